using System;
using System.Linq;
using FlowOod.Analysis;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Analysis;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class CoAdaptationTests
{
    // A single top → bottom half coupling whose t is −factor · (the top half shifted down), and images whose bottom half
    // repeats their top half, centred: t = −factor · x_change exactly.
    private static (NormalizingFlow Flow, Tensor Images) KnownCase(double factor, long images)
    {
        var flow = new NormalizingFlow(
            new Chain(new AffineCoupling(AnalysisFixtures.ImageShape, HalfMask.Horizontal, 0, new ShiftDownConditionerFactory(factor))),
            AnalysisFixtures.ImageShape);
        flow.eval();
        using var generator = new Generator(21);
        using var top = randn([images, 1, 4, 8], generator: generator);
        return (flow, cat(new[] { top, top }, 2));
    }

    [Fact]
    public void Measure_ShiftIsMinusTheChangedHalf_GivesOne()
    {
        using var scope = NewDisposeScope();
        var (flow, images) = KnownCase(factor: 1, images: 64);
        using (flow)
        {
            var result = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres).Should().ContainSingle().Subject;

            result.Name.Should().Be("coupling 1 (scale 1)");
            result.RSquared.Should().Be(1);
            result.ResidualMeanSquare.Should().Be(0);
            result.Variance.Should().BeApproximately(1, 0.1, "the changed half is standard normal");
            result.TransformedEntries.Should().Be(32, "the bottom 4 of 8 rows");
            result.Images.Should().Be(64);
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.75)]
    public void Measure_ScaledShift_GivesOneMinusTheSquaredMiss(double factor, double expected)
    {
        // x + t = (1 − factor)·x, so R² = 1 − (1 − factor)²·E[x²]/Var(x) ≈ 1 − (1 − factor)² on centred data.
        using var scope = NewDisposeScope();
        var (flow, images) = KnownCase(factor, images: 512);
        using (flow)
        {
            var result = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres).Single();

            result.RSquared.Should().BeApproximately(expected, 0.01);
        }
    }

    [Fact]
    public void Measure_FreshThreeLayerHorizontalModel_ShiftsAreZero_GivesAboutZeroPerLayer()
    {
        using var scope = NewDisposeScope();
        var options = SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new ResNetConditionerFactory(4, 1) };
        using var flow = SingleScaleRealNvp.Create(AnalysisFixtures.ImageShape, options);
        flow.eval();
        using var generator = new Generator(22);
        var images = rand([300, 1, 8, 8], generator: generator);

        var results = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres, batchSize: 128);

        results.Select(r => r.Name).Should().Equal("coupling 1 (scale 1)", "coupling 2 (scale 1)", "coupling 3 (scale 1)");
        results.Select(r => r.TransformedEntries).Should().Equal(32, 32, 32);
        foreach (var result in results)
        {
            result.RSquared.Should().BeApproximately(0, 0.05, "{0} has t = 0 and its inputs (logits of uniform pixels) are centred", result.Name);
        }
    }

    [Fact]
    public void Measure_DoesNotDependOnTheBatchSize()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(23);
        var images = AnalysisFixtures.Images(20, seed: 23);

        var whole = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres);
        var chunked = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres, batchSize: 7);

        whole.Should().HaveCount(10);
        for (int k = 0; k < whole.Count; k++)
        {
            chunked[k].RSquared.Should().BeApproximately(whole[k].RSquared, 1e-6, "{0}: float32 convolutions round a little differently per batch size", whole[k].Name);
            whole[k].RSquared.Should().BeLessThanOrEqualTo(1);
        }
    }

    [Fact]
    public void Measure_BadInput_Throws()
    {
        using var scope = NewDisposeScope();
        var (flow, images) = KnownCase(factor: 1, images: 4);
        using (flow)
        {
            FluentActions.Invoking(() => CoAdaptation.Measure(flow, images.narrow(0, 0, 1), ScoringNoise.BinCentres))
                .Should().Throw<ArgumentException>().WithMessage("*at least 2 images*");
            FluentActions.Invoking(() => CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres, batchSize: 0))
                .Should().Throw<ArgumentOutOfRangeException>();
            FluentActions.Invoking(() => CoAdaptation.Measure(flow, images.Times(double.NaN), ScoringNoise.BinCentres))
                .Should().Throw<ArgumentException>().WithMessage("*NaN*");
        }
    }
}

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class CoAdaptationTrainingTests
{
    // Images whose every column is one grey level (vertical stripes): the bottom half is the top half, so a trained
    // top → bottom coupling can predict the half it changes, and on noise images (independent halves) it cannot.
    private static Tensor Stripes(long n, ulong seed)
    {
        using var generator = new Generator(seed);
        using var levels = randint(0, 256, [n, 1, 1, 8], generator: generator);
        return levels.to(ScalarType.Float32).DivideInPlace(255.0).expand(n, 1, 8, 8).contiguous();
    }

    [Fact]
    public void Measure_AfterTrainingOnPredictableHalves_ThePredictingLayerExplainsMostOfItsHalf_AndNotOnNoise()
    {
        using var scope = NewDisposeScope();
        var options = SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new ResNetConditionerFactory(8, 1) };
        random.manual_seed(41); // the st-networks' initialisation draws from torch's global generator
        using var flow = SingleScaleRealNvp.Create(AnalysisFixtures.ImageShape, options);
        var training = Stripes(512, seed: 41);
        new FlowTrainer(flow, new TrainingOptions { Steps = 150, BatchSize = 32, LearningRate = 3e-3, Seed = 41 })
            .Train(training);
        flow.eval();

        var onStripes = CoAdaptation.Measure(flow, Stripes(256, seed: 42), ScoringNoise.BinCentres);
        using var generator = new Generator(43);
        var noise = randint(0, 256, [256, 1, 8, 8], generator: generator).to(ScalarType.Float32).DivideInPlace(255.0);
        var onNoise = CoAdaptation.Measure(flow, noise, ScoringNoise.BinCentres);

        onStripes[0].RSquared.Should().BeGreaterThan(0.3, "layer 1 learnt to predict the bottom half from the top half");
        onNoise[0].RSquared.Should().BeLessThan(0.1, "on noise the top half says nothing about the bottom half");
    }
}
