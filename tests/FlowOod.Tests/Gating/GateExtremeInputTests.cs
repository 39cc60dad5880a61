using System;
using FlowOod.Detection;
using FlowOod.Scoring;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// Finite but extreme inputs (images × 10³⁰ or 1.5·10³⁸, finite features): the feature-space scorer, its detector and the layer
// gate refuse them with an ArgumentException naming the caller's parameter, before the flow runs. Regression: they threw
// InvalidOperationException ("... produced NaN for example 0"), the error reserved for corrupt parameters.
public sealed class GateExtremeInputTests(FittedGateFixture fixture) : IClassFixture<FittedGateFixture>
{
    [Fact]
    public void LayerGate_ExtremeFiniteInput_IsRefusedAsAnArgument()
    {
        using var scope = NewDisposeScope();
        var batch = GateTestModels.InDistribution(3, seed: 71).Times(1e30);
        isfinite(batch).all().item<bool>().Should().BeTrue("the input is finite, only far outside the data's range");

        var classify = () => fixture.Gate.Classify(batch);
        var classifyOne = () => fixture.Gate.ClassifyOne(batch[0]);

        classify.Should().Throw<ArgumentException>().WithMessage("*standard deviations from the in-distribution mean*")
            .Which.ParamName.Should().Be("batch");
        classifyOne.Should().Throw<ArgumentException>().WithMessage("*standard deviations*").Which.ParamName.Should().Be("input");
    }

    [Fact]
    public void FeatureSpaceScorerAndDetector_ExtremeFiniteInput_AreRefusedAsAnArgument()
    {
        using var scope = NewDisposeScope();
        var heldOut = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        using var scorer = FeatureSpaceScorer.Fit(
            batch => batch.flatten(1).narrow(1, 0, 6).Times(2),
            heldOut,
            new FeatureSpaceFitOptions
            {
                Flow = new FlowOod.Models.TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                Training = new FlowOod.Training.TrainingOptions { Steps = 5, BatchSize = 10, Seed = 1 },
            });
        using var detector = OodDetector.Calibrate(scorer, heldOut, 0.1);
        var extreme = ScoringFlows.EightBitImages(4, ScalarType.Float32).Times(1.5e38);
        var far = ScoringFlows.EightBitImages(4, ScalarType.Float32).Times(1000);

        var score = () => scorer.Score(extreme);
        var predict = () => detector.Predict(extreme);

        score.Should().Throw<ArgumentException>().WithMessage("*standard deviations*").Which.ParamName.Should().Be("batch");
        predict.Should().Throw<ArgumentException>().WithMessage("*standard deviations*").Which.ParamName.Should().Be("batch");
        scorer.Score(far).Should().OnlyContain(s => !double.IsNaN(s), "inputs far out, but inside the range, are still scored");
    }
}
