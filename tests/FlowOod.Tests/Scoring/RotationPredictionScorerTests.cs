using System;
using System.Linq;
using FlowOod.Metrics;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class RotationPredictionScorerTests
{
    // A few Adam steps of a tiny network on 8×8 images: enough for persistence, registry and concurrency cases.
    internal static RotationPredictionScorer TrainTiny(Tensor images, long seed)
    {
        random.manual_seed(seed);
        return RotationPredictionScorer.Train(
            images, new RotationPredictionOptions { Width = 2, Hidden = 4, Steps = 3, BatchSize = 4, Seed = seed }, chunkSize: 3);
    }

    [Fact]
    public void Score_AfterTrainingOnUprightImages_FlagsRotatedImages()
    {
        // In-distribution: a bright bar across the top two rows above noise, an orientation a network learns quickly.
        // Rotated by 90° the bar is on a side, which the network has learnt means "rotated": the score must rank those
        // images far above held-out upright ones.
        using var scope = NewDisposeScope();
        var train = Oriented(512, seed: 1);
        var heldOut = Oriented(100, seed: 2);
        var rotated = heldOut.rot90(1, (2, 3)).contiguous();
        random.manual_seed(3);
        using var scorer = RotationPredictionScorer.Train(train, new RotationPredictionOptions { Width = 4, Hidden = 16, Steps = 150, BatchSize = 32, Seed = 3 });

        var auroc = OodMetrics.Auroc(scorer.Score(heldOut), scorer.Score(rotated));

        auroc.Should().BeGreaterThan(0.95);
    }

    [Fact]
    public void Score_RotationSymmetricImage_IsAtLeastFourLogFour()
    {
        // A constant image looks the same in all four rotations, so the network gives one distribution p for all of them
        // and Σ_k −log p_k ≥ 4 ln 4 (equality at the uniform p): no training can make it look typical.
        using var scope = NewDisposeScope();
        using var scorer = TrainTiny(ScoringFlows.EightBitImages(16, ScalarType.Float32), seed: 4);
        var constant = ones(3, 1, 8, 8).Times(0.25);

        var scores = scorer.Score(constant);

        scores.Should().OnlyContain(s => s >= (4 * Math.Log(4)) - 1e-5);
    }

    [Fact]
    public void Score_ChunkedAndWhole_Agree()
    {
        using var scope = NewDisposeScope();
        var images = ScoringFlows.EightBitImages(10, ScalarType.Float32);
        using var scorer = TrainTiny(images, seed: 5); // chunk size 3: chunks of 3, 3, 3, 1

        var whole = scorer.Score(images);
        var oneByOne = Enumerable.Range(0, 10).SelectMany(i => scorer.Score(images.narrow(0, i, 1))).ToArray();

        oneByOne.Should().Equal(whole, (a, b) => Math.Abs(a - b) <= 1e-5 * Math.Max(1, Math.Abs(b)));
        whole.Should().OnlyContain(s => double.IsFinite(s) && s >= 0);
    }

    [Fact]
    public void Train_SameSeeds_GivesTheSameScores()
    {
        using var scope = NewDisposeScope();
        var images = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        using var first = TrainTiny(images, seed: 6);
        using var second = TrainTiny(images, seed: 6);
        using var other = TrainTiny(images, seed: 7);

        first.Score(images).Should().Equal(second.Score(images));
        other.Score(images).Should().NotEqual(first.Score(images));
    }

    [Theory]
    [InlineData("non-square", "*square images*[4, 1, 8, 6]*")]
    [InlineData("side not a multiple of 4", "*multiple of 4*[4, 1, 6, 6]*")]
    [InlineData("float64", "*accepts Float32*Float64*")]
    [InlineData("above 1", "*[0, 1]*")]
    [InlineData("fewer than a batch", "*at least one batch (4)*got 3*")]
    public void Train_BadImages_ThrowsArgumentExceptionNamingTheProblem(string problem, string message)
    {
        using var scope = NewDisposeScope();
        var images = problem switch
        {
            "non-square" => zeros(4, 1, 8, 6),
            "side not a multiple of 4" => zeros(4, 1, 6, 6),
            "float64" => zeros(4, 1, 8, 8, ScalarType.Float64),
            "above 1" => ones(4, 1, 8, 8).Times(2),
            _ => zeros(3, 1, 8, 8),
        };

        var act = () => RotationPredictionScorer.Train(images, new RotationPredictionOptions { Width = 2, Hidden = 4, Steps = 1, BatchSize = 4 });

        act.Should().Throw<ArgumentException>().WithMessage(message).Which.ParamName.Should().Be("inDistributionImages");
    }

    [Theory]
    [InlineData(0, 4, 1, 4, 1e-3)]
    [InlineData(2, 0, 1, 4, 1e-3)]
    [InlineData(2, 4, 0, 4, 1e-3)]
    [InlineData(2, 4, 1, 0, 1e-3)]
    [InlineData(2, 4, 1, 4, 0)]
    [InlineData(2, 4, 1, 4, double.NaN)]
    public void Train_OptionsOutOfRange_ThrowsArgumentException(int width, int hidden, int steps, int batchSize, double learningRate)
    {
        using var scope = NewDisposeScope();
        var options = new RotationPredictionOptions { Width = width, Hidden = hidden, Steps = steps, BatchSize = batchSize, LearningRate = learningRate };

        var act = () => RotationPredictionScorer.Train(zeros(8, 1, 8, 8), options);

        act.Should().Throw<ArgumentException>().WithMessage("*out of range*").Which.ParamName.Should().Be("options");
    }

    [Fact]
    public void Score_AfterDispose_Throws()
    {
        using var scope = NewDisposeScope();
        var images = ScoringFlows.EightBitImages(8, ScalarType.Float32);
        var scorer = TrainTiny(images, seed: 8);
        scorer.Dispose();
        scorer.Dispose();

        var act = () => scorer.Score(images);

        act.Should().Throw<ObjectDisposedException>();
    }

    // [n, 1, 8, 8]: uniform noise in [0, 0.5], the top two rows set to 1.
    private static Tensor Oriented(long n, long seed)
    {
        using var generator = new Generator((ulong)seed);
        var images = rand(new long[] { n, 1, 8, 8 }, generator: generator).Times(0.5);
        using var one = 1.0.ToScalar();
        images.narrow(2, 0, 2).fill_(one);
        return images;
    }
}
