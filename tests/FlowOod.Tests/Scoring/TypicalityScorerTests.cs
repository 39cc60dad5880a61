using System;
using System.Linq;
using FlowOod.Scoring;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class TypicalityScorerTests
{
    [Fact]
    public void Fit_StandardNormal_EntropyEstimateMatchesGaussianEntropy()
    {
        // −log N(x; 0, I_8) = ½|x|² + 4 log 2π has mean (D/2)(1 + log 2π) and variance D/2 = 4, so the mean of 4000 held-out
        // values has standard error 0.032.
        using var flow = GaussianFlows.StandardNormal(8);
        using var scope = NewDisposeScope();
        random.manual_seed(1);

        var scorer = TypicalityScorer.Fit(flow, GaussianFlows.Samples(4000, 8));

        scorer.Entropy.Should().BeApproximately(GaussianFlows.StandardNormalEntropy(8), 0.13);
    }

    [Fact]
    public void Fit_HeldOutData_EntropyIsMeanNegativeLogLikelihoodInNats()
    {
        using var flow = GaussianFlows.Create([0.5, -1, 2], [1, 2, 0.5]);
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        var heldOut = GaussianFlows.Samples(37, 3);

        var scorer = TypicalityScorer.Fit(flow, heldOut, chunkSize: 5);

        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(heldOut);
        scorer.Entropy.Should().BeApproximately(nll.Average(), 1e-12 * Math.Abs(nll.Average()));
    }

    [Fact]
    public void Score_Batch_EqualsAbsoluteDifferenceOfNllAndEntropy()
    {
        using var flow = GaussianFlows.Create([0.5, -1, 2], [1, 2, 0.5]);
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var batch = GaussianFlows.Samples(20, 3, std: 2);
        var scorer = new TypicalityScorer(flow, entropy: 5.25);

        var scores = scorer.Score(batch);

        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch);
        scores.Should().HaveCount(20);
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i].Should().Be(Math.Abs(nll[i] - 5.25), $"example {i}");
        }

        scores.Should().Contain(s => s > 0).And.OnlyContain(s => s >= 0);
    }

    [Fact]
    public void Score_ModeOfHighDimensionalGaussian_MostAtypicalAlthoughMostLikely()
    {
        // In D = 100 dimensions the mode x = 0 has −log p = 50 log 2π while Ĥ ≈ 50 (1 + log 2π): its typicality score is
        // ≈ D/2 = 50 nats, while samples deviate from Ĥ by about √(D/2) ≈ 7. The likelihood ranks the mode first; the
        // typicality score ranks it last.
        const int D = 100;
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var scorer = TypicalityScorer.Fit(flow, GaussianFlows.Samples(2000, D));
        var batch = cat([GaussianFlows.Samples(200, D), zeros(1, D, dtype: ScalarType.Float64)]);

        var typicality = scorer.Score(batch);
        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch);

        var mode = batch.shape[0] - 1;
        nll[mode].Should().Be(nll.Min(), "the mode is the most likely input");
        typicality[mode].Should().Be(typicality.Max(), "the mode lies far outside the typical set");
        typicality[mode].Should().BeApproximately(D / 2.0, 1.0);
    }

    [Fact]
    public void Constructor_StateOfFittedScorer_ReproducesScoresExactly()
    {
        using var flow = GaussianFlows.StandardNormal(4);
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var fitted = TypicalityScorer.Fit(flow, GaussianFlows.Samples(100, 4), chunkSize: 7, noise: ScoringNoise.Seeded(3));
        var batch = GaussianFlows.Samples(30, 4, mean: 1);

        var reloaded = new TypicalityScorer(fitted.Flow, fitted.Entropy, fitted.ChunkSize, fitted.Noise);

        reloaded.Score(batch).Should().Equal(fitted.Score(batch));
        reloaded.Noise.Should().Be(ScoringNoise.Seeded(3));
        reloaded.ChunkSize.Should().Be(7);
    }

    [Fact]
    public void Score_ImageFlowBatchOfTen_EqualsEachItemScoredAlone()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var scorer = TypicalityScorer.Fit(flow, ScoringFlows.EightBitImages(16, ScalarType.Float64), chunkSize: 3);
        var batch = ScoringFlows.EightBitImages(10, ScalarType.Float64);

        var together = scorer.Score(batch);

        for (int i = 0; i < 10; i++)
        {
            var alone = scorer.Score(batch.narrow(0, i, 1)).Single();
            // The score is a difference of two numbers of size |Ĥ|, so its rounding error scales with |Ĥ|.
            var tolerance = Tolerances.BatchInvarianceRelative * (Math.Abs(alone) + Math.Abs(scorer.Entropy));
            together[i].Should().BeApproximately(alone, tolerance, $"item {i}");
        }
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Constructor_NonFiniteEntropy_ThrowsArgumentOutOfRange(double entropy)
    {
        using var flow = GaussianFlows.StandardNormal(2);

        var act = () => new TypicalityScorer(flow, entropy);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(entropy)).WithMessage("*finite*");
    }

    [Fact]
    public void Constructor_NullFlowOrZeroChunk_Throws()
    {
        using var flow = GaussianFlows.StandardNormal(2);

        FluentActions.Invoking(() => new TypicalityScorer(null!, 1.0)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new TypicalityScorer(flow, 1.0, chunkSize: 0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Fit_SingleHeldOutExample_ThrowsArgumentExceptionNamingTheCount()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityScorer.Fit(flow, zeros(1, 2, dtype: ScalarType.Float64));

        act.Should().Throw<ArgumentException>().WithMessage("*at least 2*got 1*");
    }

    [Fact]
    public void Fit_WrongShape_ThrowsArgumentException()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityScorer.Fit(flow, zeros(10, 3, dtype: ScalarType.Float64));

        act.Should().Throw<ArgumentException>().WithMessage("*shape*");
    }

    [Fact]
    public void Score_NaNInput_ThrowsArgumentException()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();
        var batch = zeros(3, 2, dtype: ScalarType.Float64);
        batch[1, 1] = double.NaN;

        var act = () => new TypicalityScorer(flow, 2.0).Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage("*NaN*");
    }
}
