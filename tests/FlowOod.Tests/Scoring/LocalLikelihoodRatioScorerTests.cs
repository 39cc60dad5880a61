using System;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Tests.Conditioners;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LocalLikelihoodRatioScorerTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(3)]
    public void Score_IsTheLocalMinusTheFullLogDensity_InBitsPerDim(int chunkSize)
    {
        using var full = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 99);
        using var local = ScoringFlows.CreateLocal(seed: 7);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(10, ScalarType.Float32);

        var scores = new LocalLikelihoodRatioScorer(full, local, chunkSize).Score(batch);

        var nllFull = new NegativeLogLikelihoodScorer(full, LikelihoodUnit.Nats).Score(batch);
        var nllLocal = new NegativeLogLikelihoodScorer(local, LikelihoodUnit.Nats).Score(batch);
        var dimensions = 64 * Math.Log(2);
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i].Should().BeApproximately((nllFull[i] - nllLocal[i]) / dimensions, 1e-9, $"example {i}");
        }

        scores.Distinct().Should().HaveCount(10, "the two flows differ, so the ratio is not constant");
    }

    [Fact]
    public void Constructor_RejectsTheSameFlowTwice_AndFlowsOfOtherInputs()
    {
        using var full = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var other = SingleScaleRealNvp.Create([1, 4, 4], SingleScaleRealNvpOptions.Local);

        var same = () => new LocalLikelihoodRatioScorer(full, full);
        same.Should().Throw<ArgumentException>().WithParameterName("local").WithMessage("*is the full flow*");
        var shape = () => new LocalLikelihoodRatioScorer(full, other);
        shape.Should().Throw<ArgumentException>().WithParameterName("local").WithMessage("*[1, 4, 4]*[1, 8, 8]*same inputs*");
    }

    [Fact]
    public void LocalFlow_EachLatentDependsOnlyOnItsWindow()
    {
        // n couplings whose st-networks see k×k windows: latent (h, w) depends on pixels within n·(k − 1)/2 of it.
        using var flow = SingleScaleRealNvp.Create([1, 12, 12], SingleScaleRealNvpOptions.Local with { DequantizationNoise = false, Couplings = 2, Conditioner = new LocalConditionerFactory(3, 4, 1) });
        ConditionerCases.PerturbAll(flow, 0.3);
        flow.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = rand(1, 1, 12, 12).Times(0.9).Plus(0.05);
        var changed = x.clone();
        changed[0, 0, 0, 0] = tensor(0.5f);
        var (z, _) = flow.Transform.Forward(x);
        var (zChanged, _) = flow.Transform.Forward(changed);
        var moved = zChanged.ne(z)[0, 0];

        moved[0, 0].ReadBoolean().Should().BeTrue("the changed pixel's own latent moves");
        moved.narrow(0, 3, 9).any().ReadBoolean().Should().BeFalse("rows 3 and beyond are outside the 2-pixel reach of two 3×3 couplings");
        moved.narrow(1, 3, 9).any().ReadBoolean().Should().BeFalse("columns 3 and beyond are outside the reach too");
        moved.narrow(0, 0, 3).narrow(1, 0, 3).sum().ReadInt64().Should().BeGreaterThan(1, "the change does spread inside the window");
    }

    [Fact]
    public void TrainLocalFlow_ReturnsATrainedLocalFlowInEvaluationMode()
    {
        random.manual_seed(3);
        using var scope = NewDisposeScope();
        var images = ScoringFlows.EightBitImages(64, ScalarType.Float32);
        var architecture = SingleScaleRealNvpOptions.Local with { Couplings = 2, Conditioner = new LocalConditionerFactory(3, 4, 1) };
        using var untrained = SingleScaleRealNvp.Create([1, 8, 8], architecture);
        untrained.eval();
        var before = new NegativeLogLikelihoodScorer(untrained).Score(images).Average();

        using var local = LocalLikelihoodRatioScorer.TrainLocalFlow(images, new TrainingOptions { Steps = 40, BatchSize = 16, LearningRate = 5e-3, Seed = 1 }, architecture);

        local.IsInEvaluationMode.Should().BeTrue();
        local.EventShape.Should().Equal(1, 8, 8);
        new NegativeLogLikelihoodScorer(local).Score(images).Average().Should().BeLessThan(before - 0.05, "training lowers the training images' bits/dim");
    }

    [Fact]
    public void TrainLocalFlow_RejectsDataThatIsNotABatchOfImages()
    {
        using var rows = rand(10, 64);
        var act = () => LocalLikelihoodRatioScorer.TrainLocalFlow(rows, new TrainingOptions { Steps = 1 });
        act.Should().Throw<ArgumentException>().WithParameterName("inDistributionData").WithMessage("*[N, C, H, W]*[10, 64]*");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0)]
    [InlineData(33)]
    public void LocalConditionerFactory_RejectsWindowsThatAreNotOddOrOutOfRange(int window)
    {
        var act = () => new LocalConditionerFactory(window, 4, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(window));
    }
}
