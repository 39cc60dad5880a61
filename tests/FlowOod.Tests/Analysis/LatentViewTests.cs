using System;
using FlowOod.Analysis;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Analysis;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LatentViewTests
{
    [Fact]
    public void ToPixelLayout_OfTheReshapeModelsForward_GivesTheImageBackBitForBit()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.HandBuilt(perturb: true);
        var images = AnalysisFixtures.Images(3, seed: 1);
        using var model = LatentView.ReshapeModel(flow);

        var (reshaped, logDet) = model.Forward(images);
        var back = LatentView.ToPixelLayout(flow, reshaped);

        back.ShouldEqualBitForBit(images, "R⁻¹(R(x))");
        reshaped.equal(images).all().ReadBoolean().Should().BeFalse("the hand-built flow's channel reversal moves entries inside every 2×2 block");
        logDet.abs().max().ReadDouble().Should().Be(0);
        back.shape.Should().Equal([3, 1, 8, 8]);
    }

    [Fact]
    public void ReshapeModel_MovesEveryLatentCoordinateToThePixelItEncodes()
    {
        // With its couplings at the identity (fresh, zero-initialised) the hand-built flow is its own reshape model plus
        // preprocessing, so its latent, put at pixel positions with the preprocessing undone, is the image again.
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.HandBuilt(perturb: false);
        var images = AnalysisFixtures.Images(4, seed: 2);

        var latent = LatentView.Latents(flow, images, ScoringNoise.BinCentres);
        var pixels = LatentView.ToPixelLayout(flow, latent, includePreprocessing: true);

        pixels.ShouldEqualBitForBit(images, "quantize(sigmoid(R⁻¹(f(x))))");
    }

    [Fact]
    public void ToPixelLayout_FlowWithoutCouplings_EqualsTheFlowsOwnInverse()
    {
        using var scope = NewDisposeScope();
        using var layoutOnly = new NormalizingFlow(
            new Chain(new Squeeze(), Permutation.Reverse(4), new InverseOf(new Squeeze())), AnalysisFixtures.ImageShape);
        using var withPreprocessing = new NormalizingFlow(
            new Chain(new UniformDequantization(), new Logit(0.05), new Squeeze(), Permutation.Reverse(4), new InverseOf(new Squeeze())),
            AnalysisFixtures.ImageShape);
        using var generator = new Generator(3);
        var z = randn([5, 1, 8, 8], generator: generator);

        LatentView.ToPixelLayout(layoutOnly, z).ShouldEqualBitForBit(layoutOnly.Transform.Inverse(z).Output, "layout-only flow");
        LatentView.ToPixelLayout(withPreprocessing, z, includePreprocessing: true)
            .ShouldEqualBitForBit(withPreprocessing.Transform.Inverse(z).Output, "flow with preprocessing");
        LatentView.ToPixelLayout(withPreprocessing, z).ShouldEqualBitForBit(layoutOnly.Transform.Inverse(z).Output, "preprocessing left out");
    }

    [Theory]
    [InlineData("RealNvp")]
    [InlineData("Glow")]
    [InlineData("SingleScale")]
    public void ToPixelLayout_BuildersFlows_KeepTheLatentInPixelLayout(string kind)
    {
        using var scope = NewDisposeScope();
        using var flow = kind switch
        {
            "RealNvp" => AnalysisFixtures.TinyRealNvp(4),
            "Glow" => AnalysisFixtures.TinyGlow(4),
            _ => SingleScaleRealNvp.Create(AnalysisFixtures.ImageShape, SingleScaleRealNvpOptions.RealNvpCycleMask with
            {
                Conditioner = new FlowOod.Conditioners.ResNetConditionerFactory(4, 1),
            }),
        };
        using var generator = new Generator(5);
        var z = randn([2, 1, 8, 8], generator: generator);

        var pixels = LatentView.ToPixelLayout(flow, z);

        pixels.ShouldEqualBitForBit(z, kind);
        pixels.Handle.Should().NotBe(z.Handle, "the result is a new tensor the caller owns");
    }

    [Fact]
    public void Latents_OneDrawAtBinCentres_IsTheFlowsForwardBitForBit()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(6);
        var images = AnalysisFixtures.Images(3, seed: 6);

        var latent = LatentView.Latents(flow, images, ScoringNoise.BinCentres);

        latent.shape.Should().Equal([3, 1, 8, 8]);
        // Without gradients, as the analyses and scorers run it (then a few images' coupling steps are managed code).
        using var noGrad = no_grad();
        latent.ShouldEqualBitForBit(flow.Transform.Forward(images, ScoringNoise.BinCentres).Output, "z");
    }

    [Fact]
    public void Latents_SeveralDraws_AverageDrawsOfOneNoiseStream()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(7);
        var images = AnalysisFixtures.Images(2, seed: 7);

        var mean = LatentView.Latents(flow, images, ScoringNoise.SeededStream(9), samples: 3);
        Tensor expected;
        using (var source = ScoringNoise.SeededStream(9).Open())
        using (var noGrad = no_grad())
        {
            var first = BijectorNoise.Forward(flow.Transform, images, source).Output;
            var second = BijectorNoise.Forward(flow.Transform, images, source).Output;
            var third = BijectorNoise.Forward(flow.Transform, images, source).Output;
            first.equal(second).all().ReadBoolean().Should().BeFalse("the draws differ");
            expected = first.Plus(second).PlusInPlace(third).DivideInPlace(3);
        }

        mean.ShouldEqualBitForBit(expected, "mean of three draws");
        LatentView.Latents(flow, images, ScoringNoise.BinCentres, samples: 4)
            .ShouldBeCloseTo(LatentView.Latents(flow, images, ScoringNoise.BinCentres), 1e-6, 1e-6, "the same u four times");
    }

    [Fact]
    public void Latents_BatchStatistics_DifferFromRunningOnes_AndNeverTouchTheFlow()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(8);
        var images = AnalysisFixtures.Images(6, seed: 8);
        var before = AnalysisFixtures.Snapshot(flow);

        var running = LatentView.Latents(flow, images, ScoringNoise.BinCentres);
        var batch = LatentView.Latents(flow, images, ScoringNoise.BinCentres, statistics: BatchNormStatistics.Batch);

        batch.shape.Should().Equal(running.shape);
        batch.sub(running).abs().max().ReadDouble().Should().BeGreaterThan(1e-4, "batch statistics are not the running averages");
        before.ShouldMatch(flow);
        flow.IsInEvaluationMode.Should().BeTrue();

        // A flow left in training mode is answered on an evaluation-mode copy, and stays as it was.
        flow.train();
        var fromTraining = LatentView.Latents(flow, images, ScoringNoise.BinCentres);
        fromTraining.ShouldEqualBitForBit(running, "running statistics from a flow in training mode");
        flow.training.Should().BeTrue();
        before.ShouldMatch(flow);
        before.DisposeAll();
    }

    [Fact]
    public void Queries_BadInput_ThrowNamingTheProblem()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(9);
        var images = AnalysisFixtures.Images(2, seed: 9);
        var wrongShape = zeros(2, 1, 8, 7);

        FluentActions.Invoking(() => LatentView.Latents(flow, wrongShape, ScoringNoise.BinCentres))
            .Should().Throw<ArgumentException>().WithMessage("*shape*");
        FluentActions.Invoking(() => LatentView.Latents(flow, images.Times(2), ScoringNoise.BinCentres))
            .Should().Throw<ArgumentException>().WithMessage("*[0, 1]*");
        FluentActions.Invoking(() => LatentView.Latents(flow, images, ScoringNoise.BinCentres, samples: 0))
            .Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => LatentView.Latents(flow, images, ScoringNoise.BinCentres, statistics: (BatchNormStatistics)7))
            .Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => LatentView.ToPixelLayout(flow, wrongShape))
            .Should().Throw<ArgumentException>().WithMessage("*latent of shape*");
        FluentActions.Invoking(() => LatentView.ToPixelLayout(flow, zeros([2, 1, 8, 8], dtype: ScalarType.Int64)))
            .Should().Throw<ArgumentException>().WithMessage("*float32 or float64*");

        using var custom = new NormalizingFlow(new Chain(new Squeeze(), new Unknown(), new InverseOf(new Squeeze())), AnalysisFixtures.ImageShape);
        FluentActions.Invoking(() => LatentView.ReshapeModel(custom)).Should().Throw<NotSupportedException>().WithMessage("*Unknown*");
        FluentActions.Invoking(() => CouplingView.Trace(custom, zeros(1, 1, 8, 8), ScoringNoise.BinCentres))
            .Should().Throw<NotSupportedException>().WithMessage("*Unknown*");
    }

    private sealed class Unknown : Bijector
    {
        public Unknown()
            : base(nameof(Unknown))
        {
            RegisterComponents();
        }

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.alias(), ZeroLogDet(input));

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.alias(), ZeroLogDet(input));
    }
}
