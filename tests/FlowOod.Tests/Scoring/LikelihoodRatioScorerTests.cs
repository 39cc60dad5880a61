using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LikelihoodRatioScorerTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(3)]
    public void Score_TwoFlows_EqualsForegroundNllMinusBackgroundNll(int chunkSize)
    {
        using var foreground = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64, seed: 99);
        using var background = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64, seed: 5);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(10, ScalarType.Float64);

        var scores = new LikelihoodRatioScorer(foreground, background, chunkSize).Score(batch);

        var nllForeground = new NegativeLogLikelihoodScorer(foreground, LikelihoodUnit.Nats).Score(batch);
        var nllBackground = new NegativeLogLikelihoodScorer(background, LikelihoodUnit.Nats).Score(batch);
        scores.Should().HaveCount(10);
        for (int i = 0; i < scores.Length; i++)
        {
            // log p_bg − log p_fg = NLL_fg − NLL_bg.
            var expected = nllForeground[i] - nllBackground[i];
            scores[i].Should().BeApproximately(expected, 1e-9 * Math.Max(1, Math.Abs(nllForeground[i])), $"example {i}");
        }

        scores.Distinct().Should().HaveCount(10, "the two flows differ, so the ratio is not constant");
    }

    [Fact]
    public void FineTuneBackground_StartsFromAnExactCopyAndLeavesTheForegroundAlone()
    {
        using var scope = NewDisposeScope();
        var foreground = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 31);
        var batch = ScoringFlows.EightBitImages(16, ScalarType.Float32);
        var before = foreground.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var copy = FlowCopy.Of(foreground);
        copy.LogProb(batch).eq(foreground.LogProb(batch)).all().ReadBoolean().Should().BeTrue("the copy is the same density");
        copy.Dispose();

        using var background = LikelihoodRatioScorer.FineTuneBackground(
            foreground, batch, mutationRate: 0.2, new TrainingOptions { Steps = 3, BatchSize = 8, Seed = 2 });

        foreach (var (name, tensor) in foreground.state_dict())
        {
            tensor.eq(before[name]).all().ReadBoolean().Should().BeTrue($"{name} of the foreground is untouched");
        }

        background.Architecture.Should().BeSameAs(foreground.Architecture);
        background.training.Should().BeFalse();
        background.LogProb(batch).eq(foreground.LogProb(batch)).all().ReadBoolean().Should().BeFalse("3 steps on perturbed data moved the background");
    }

    [Fact]
    public void FineTuneBackground_HandBuiltForeground_ThrowsNotSupported()
    {
        using var flow = new NormalizingFlow(new Chain([new Squeeze()]), [4, 2, 2]);
        using var data = zeros(4, 4, 2, 2);

        var act = () => LikelihoodRatioScorer.FineTuneBackground(flow, data, 0.1, new TrainingOptions { Steps = 1 });

        act.Should().Throw<NotSupportedException>().WithMessage("*FlowOod's builders*");
    }

    [Fact]
    public void Score_BackgroundOnNoise_RanksNoiseAsMoreOodThanTheTrainingKind()
    {
        // Foreground: smooth images. Background: the same images with every pixel replaced (μ = 1), i.e. uniform noise.
        // In-distribution smooth images get log p_fg ≫ log p_bg (negative score), noise the opposite.
        using var scope = NewDisposeScope();
        var smooth = SmoothImages(256, seed: 11);
        random.manual_seed(12);
        var foreground = RealNvp.Create(ScoringFlows.ImageShape, new RealNvpOptions { Width = 8, Blocks = 1 });
        var background = RealNvp.Create(ScoringFlows.ImageShape, new RealNvpOptions { Width = 8, Blocks = 1 });
        var options = new TrainingOptions { Steps = 40, BatchSize = 32, Seed = 13 };
        new FlowTrainer(foreground, options).Train(smooth, cancellationToken: TestContext.Current.CancellationToken);
        LikelihoodRatioScorer.TrainBackground(background, smooth, mutationRate: 1, options, cancellationToken: TestContext.Current.CancellationToken);
        var scorer = new LikelihoodRatioScorer(foreground, background);

        var inScores = scorer.Score(SmoothImages(64, seed: 14));
        var oodScores = scorer.Score(ScoringFlows.EightBitImages(64, ScalarType.Float32));

        inScores.Average().Should().BeLessThan(0, "log p_fg > log p_bg on the foreground's kind of data");
        oodScores.Average().Should().BeGreaterThan(0, "log p_bg > log p_fg on noise");
        OodMetrics.Auroc(inScores, oodScores).Should().BeGreaterThan(0.99);
    }

    [Fact]
    public void TrainBackground_RateZero_EqualsPlainTraining()
    {
        using var scope = NewDisposeScope();
        var data = SmoothImages(64, seed: 21);
        var options = new TrainingOptions { Steps = 5, BatchSize = 16, Seed = 22 };
        random.manual_seed(23);
        var plain = RealNvp.Create(ScoringFlows.ImageShape, new RealNvpOptions { Width = 4, Blocks = 1 });
        random.manual_seed(23);
        var background = RealNvp.Create(ScoringFlows.ImageShape, new RealNvpOptions { Width = 4, Blocks = 1 });

        new FlowTrainer(plain, options).Train(data);
        LikelihoodRatioScorer.TrainBackground(background, data, mutationRate: 0, options);

        var a = plain.parameters().Select(p => p.data<float>().ToArray()).ToList();
        var b = background.parameters().Select(p => p.data<float>().ToArray()).ToList();
        for (int i = 0; i < a.Count; i++)
        {
            b[i].Should().Equal(a[i], $"parameter {i}: μ = 0 perturbs nothing and leaves the trainer's random streams alone");
        }
    }

    [Fact]
    public void TrainBackground_GlowSameSeedTwice_InitialisesActNormAndIsReproducible()
    {
        using var scope = NewDisposeScope();
        var data = SmoothImages(64, seed: 31);
        var options = new TrainingOptions { Steps = 4, BatchSize = 16, Seed = 32 };

        float[][] Run()
        {
            random.manual_seed(33);
            var flow = Glow.Create(ScoringFlows.ImageShape, GlowOptions.Tiny);
            var result = LikelihoodRatioScorer.TrainBackground(flow, data, mutationRate: 0.2, options);
            result.Steps.Should().Be(4);
            double.IsFinite(result.FinalLoss).Should().BeTrue();
            flow.modules().OfType<ActNorm>().Should().NotBeEmpty().And.OnlyContain(layer => layer.IsInitialized);
            return [.. flow.parameters().Select(p => p.data<float>().ToArray())];
        }

        var first = Run();
        var second = Run();

        for (int i = 0; i < first.Length; i++)
        {
            second[i].Should().Equal(first[i], $"parameter {i}");
        }
    }

    [Fact]
    public void TrainBackground_RateOutOfRange_ThrowsArgumentOutOfRange()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();

        var act = () => LikelihoodRatioScorer.TrainBackground(flow, ScoringFlows.EightBitImages(4, ScalarType.Float32), 1.5, new TrainingOptions());

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*μ*");
    }

    [Fact]
    public void Constructor_DifferentEventShapes_ThrowsArgumentExceptionNamingBoth()
    {
        using var foreground = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var background = RealNvp.Create([1, 12, 12], new RealNvpOptions { Width = 4, Blocks = 0 });

        var act = () => new LikelihoodRatioScorer(foreground, background);

        act.Should().Throw<ArgumentException>().WithMessage("*[1, 12, 12]*[1, 8, 8]*").And.ParamName.Should().Be("background");
    }

    [Fact]
    public void Constructor_SameFlowTwice_ThrowsArgumentException()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);

        var act = () => new LikelihoodRatioScorer(flow, flow);

        act.Should().Throw<ArgumentException>().WithMessage("*background flow is the foreground flow*");
    }

    [Fact]
    public void Constructor_NonPositiveChunkSize_ThrowsArgumentOutOfRange()
    {
        using var foreground = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 1);
        using var background = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 2);

        var act = () => new LikelihoodRatioScorer(foreground, background, chunkSize: 0);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Properties_RebuildAnEquivalentScorer()
    {
        using var foreground = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 1);
        using var background = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 2);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(6, ScalarType.Float32);
        var scorer = new LikelihoodRatioScorer(foreground, background, chunkSize: 4, ScoringNoise.Seeded(9));

        var rebuilt = new LikelihoodRatioScorer(scorer.Foreground, scorer.Background, scorer.ChunkSize, scorer.Noise);

        rebuilt.Score(batch).Should().Equal(scorer.Score(batch));
        scorer.Noise.Should().Be(ScoringNoise.Seeded(9));
        scorer.Name.Should().Contain("nats");
        new LikelihoodRatioScorer(foreground, background).Noise.Should().Be(ScoringNoise.BinCentres);
    }

    [Theory]
    [InlineData("wrong shape", "*shape [N, 1, 8, 8]*")]
    [InlineData("above 1", "*[0, 1]*")]
    [InlineData("empty", "*empty*")]
    public void Score_BadInput_ThrowsArgumentException(string problem, string message)
    {
        using var foreground = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 1);
        using var background = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 2);
        using var scope = NewDisposeScope();
        var batch = problem switch
        {
            "wrong shape" => zeros(2, 1, 8, 9),
            "above 1" => TestScalars.Full([2, 1, 8, 8], 1.5f),
            _ => zeros(0, 1, 8, 8),
        };

        var act = () => new LikelihoodRatioScorer(foreground, background).Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    // Each image is one random grey level plus a little noise, on the 8-bit grid.
    private static Tensor SmoothImages(long n, long seed)
    {
        random.manual_seed(seed);
        var level = rand(n, 1, 1, 1);
        return level.Plus(randn([n, .. ScoringFlows.ImageShape]).TimesInPlace(0.03)).ClampInPlace(0, 1).TimesInPlace(255).round_().DivideInPlace(255);
    }
}
