using System;
using System.Linq;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// FeatureSpaceScorer.ScoreChunkRows, the gate's call: the first rows of a padded chunk scored on the host, the same bits,
// checks and exceptions as scoring the whole chunk; the padding is checked but not scored.
public sealed class FeatureSpaceChunkRowsTests : IClassFixture<FeatureSpaceChunkRowsTests.Fitted>
{
    private const int Features = 6;
    private const double ConstantFeature = 1000;
    private readonly FeatureSpaceScorer scorer;

    public FeatureSpaceChunkRowsTests(Fitted fitted) => scorer = fitted.Scorer;

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(HostCouplingFlow.MaxRows)]
    public void ScoredRows_GetTheWholeChunksScores_BitForBit(int scoredRows)
    {
        using var chunk = Rows(HostCouplingFlow.MaxRows, seed: 3);

        var whole = scorer.ScoreFeatures(chunk, "test", "features");
        var scored = scorer.ScoreChunkRows(chunk, scoredRows, "test", "features");

        scored.Should().Equal(whole[..scoredRows]);
    }

    [Fact]
    public void ChunksTheHostDoesNotTake_AreScoredWhole()
    {
        using var chunk = Rows(HostCouplingFlow.MaxRows, seed: 4);
        using var wide = chunk.to(ScalarType.Float64);
        using var longer = Rows(HostCouplingFlow.MaxRows + 1, seed: 4);

        scorer.ScoreChunkRows(wide, 3, "test", "features").Should().Equal(scorer.ScoreFeatures(wide, "test", "features")[..3]);
        scorer.ScoreChunkRows(longer, 3, "test", "features").Should().Equal(scorer.ScoreFeatures(longer, "test", "features")[..3]);
    }

    [Fact]
    public void APaddingRow_IsCheckedLikeTheScoredRows()
    {
        using var chunk = Rows(HostCouplingFlow.MaxRows, seed: 5);
        Put(chunk, 10, 2, float.NaN);

        var whole = () => scorer.ScoreFeatures(chunk, "The test", "features");
        var scored = () => scorer.ScoreChunkRows(chunk, 2, "The test", "features");

        whole.Should().Throw<ArgumentException>().WithMessage("The test returned NaN or infinite features.*").WithParameterName("features");
        scored.Should().Throw<ArgumentException>().WithMessage("The test returned NaN or infinite features.*").WithParameterName("features");
    }

    [Fact]
    public void RowsOutOfRange_AreTreatedAsOnTheTensorPath()
    {
        // Feature 0 was constant in training (σ at the floor): 1010 is far out in σ but within twice the mean, the stored
        // statistics' fault, so that row scores +∞; 1e7 in feature 1 is the input's fault, even in a padding row.
        using var chunk = Rows(HostCouplingFlow.MaxRows, seed: 6);
        Put(chunk, 1, 0, 1010f);
        var whole = scorer.ScoreFeatures(chunk, "test", "features");
        var scored = scorer.ScoreChunkRows(chunk, 3, "test", "features");

        scored.Should().Equal(whole[..3]);
        scored[1].Should().Be(double.PositiveInfinity);
        double.IsFinite(scored[0]).Should().BeTrue();

        Put(chunk, 12, 1, 1e7f);
        var wholeThrows = () => scorer.ScoreFeatures(chunk, "test", "features");
        var scoredThrows = () => scorer.ScoreChunkRows(chunk, 3, "test", "features");
        var message = wholeThrows.Should().Throw<ArgumentException>().Which.Message;
        message.Should().Contain("standard deviations from the in-distribution mean");
        scoredThrows.Should().Throw<ArgumentException>().WithParameterName("features").Which.Message.Should().Be(message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(HostCouplingFlow.MaxRows + 1)]
    public void ScoredRows_OutsideTheChunk_Throw(int scoredRows)
    {
        using var chunk = Rows(HostCouplingFlow.MaxRows, seed: 7);

        var call = () => scorer.ScoreChunkRows(chunk, scoredRows, "test", "features");

        call.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(scoredRows));
    }

    // Standard normal rows with feature 0 at the constant of the training data.
    private static Tensor Rows(int count, int seed)
    {
        using var generator = new Generator((ulong)seed);
        var rows = randn(count, Features, generator: generator);
        using (var constant = tensor((float)ConstantFeature))
        {
            rows[.., 0] = constant;
        }

        return rows;
    }

    // rows[r, c] = value, the temporary scalar tensor disposed at once.
    private static void Put(Tensor rows, long r, long c, float value)
    {
        using var scalar = tensor(value);
        rows[r, c] = scalar;
    }

    public sealed class Fitted : IDisposable
    {
        public Fitted()
        {
            using var train = Rows(256, seed: 2);
            Scorer = FeatureSpaceScorer.FitOnFeatures(train, new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16 },
                Training = new TrainingOptions { Steps = 5, BatchSize = 64, Seed = 1 },
            });
        }

        public FeatureSpaceScorer Scorer { get; }

        public void Dispose() => Scorer.Dispose();
    }
}
