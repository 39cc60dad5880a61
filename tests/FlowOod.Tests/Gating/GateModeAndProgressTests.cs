using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

public sealed class GateModeAndProgressTests(FittedGateFixture fixture) : IClassFixture<FittedGateFixture>
{
    // One documented behaviour: a classifier in training mode is the caller's state error (InvalidOperationException
    // naming the mode and eval()), checked before a file is read; only a file that does not fit is a GateMismatchException.
    [Fact]
    public void Gating_AClassifierInTrainingMode_IsAnInvalidOperation_InFitCreateAndLoad_NeverAGateMismatch()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        fixture.Gate.Save(path);
        using var classifier = GateTestModels.Cnn(seed: 11);
        classifier.named_modules().Single(m => m.name == "relu1").module.train();
        const string Expected = "The classifier is in training mode (its submodule 'relu1' is); call .eval() on it first*";

        FluentActions.Invoking(() => OodGate.Fit(classifier, fixture.Training, GateTestModels.FitOptions()))
            .Should().Throw<InvalidOperationException>().WithMessage(Expected);
        FluentActions.Invoking(() => OodGate.Create(classifier, fixture.Gate.Detector, GateTestModels.InputShape))
            .Should().Throw<InvalidOperationException>().WithMessage(Expected);
        FluentActions.Invoking(() => OodGate.Load(path, classifier))
            .Should().Throw<InvalidOperationException>().WithMessage(Expected);

        using var other = GateTestModels.Cnn(seed: 12);
        other.train();
        FluentActions.Invoking(() => OodGate.Load(path, other)).Should().Throw<InvalidOperationException>()
            .Where(e => e.GetType() == typeof(InvalidOperationException))
            .WithMessage("The classifier is in training mode; call .eval() on it first*", "the mode is checked before the file is compared");
        other.eval();
        FluentActions.Invoking(() => OodGate.Load(path, other)).Should().Throw<GateMismatchException>();
        classifier.eval();
        using var loaded = OodGate.Load(path, classifier);
        loaded.Threshold.Should().Be(fixture.Gate.Threshold);
    }

    [Fact]
    public void Gating_Fit_ReportsItsPhasesInOrder_EachMonotonicAndEndingAtItsTotal()
    {
        var reports = new List<GateFitProgress>();
        var options = GateTestModels.FitOptions() with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 12, BatchSize = 32, Seed = 3, ProgressInterval = 5 } },
        };
        using var gate = OodGate.Fit(fixture.Classifier, fixture.Training, options, progress: new SyncProgress<GateFitProgress>(reports.Add));

        reports.Select(r => r.Phase).Distinct().Should().Equal(GateFitPhase.ExtractingFeatures, GateFitPhase.TrainingFlow, GateFitPhase.Calibrating);
        reports.Select(r => (int)r.Phase).Should().BeInAscendingOrder("phases come once each, in order");
        foreach (var phase in reports.GroupBy(r => r.Phase))
        {
            phase.Select(r => r.Done).Should().BeInAscendingOrder($"{phase.Key} never goes back");
            phase.Should().OnlyContain(r => r.Total == phase.First().Total && r.Done >= 0 && r.Done <= r.Total);
            phase.Last().Done.Should().Be(phase.Last().Total, $"{phase.Key} ends at its total");
            phase.Should().OnlyContain(r => (r.Training != null) == (r.Phase == GateFitPhase.TrainingFlow));
        }

        reports.First(r => r.Phase == GateFitPhase.ExtractingFeatures).Total.Should().Be(200, "half of the 400 inputs train the flow");
        reports.First(r => r.Phase == GateFitPhase.TrainingFlow).Total.Should().Be(12);
        reports.First(r => r.Phase == GateFitPhase.Calibrating).Total.Should().Be(200);
    }

    [Fact]
    public void Gating_CalibrateAndScore_WithProgress_ReportMonotonically_AndGiveTheSameScores()
    {
        using var scope = NewDisposeScope();
        var validation = GateTestModels.InDistribution(300, seed: 21);
        var scorer = fixture.Gate.Detector.Scorer;
        var reports = new List<ScoringProgress>();
        using var plain = OodDetector.Calibrate(scorer, validation, 0.1);
        using var reported = OodDetector.Calibrate(scorer, validation, 0.1, progress: new SyncProgress<ScoringProgress>(reports.Add));

        reported.CalibrationScores.Should().Equal(plain.CalibrationScores, "slicing at multiples of the chunk size changes no bit");
        reports.Select(r => r.Done).Should().BeInAscendingOrder().And.HaveCountGreaterThan(2);
        reports.Should().OnlyContain(r => r.Total == 300);
        reports.Last().Done.Should().Be(300);

        var scoreReports = new List<ScoringProgress>();
        scorer.Score(validation, new SyncProgress<ScoringProgress>(scoreReports.Add)).Should().Equal(scorer.Score(validation));
        scoreReports.Last().Should().Be(new ScoringProgress(300, 300));
    }
}
