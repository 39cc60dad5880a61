using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Detection;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class OodDetectorTests
{
    private static readonly double[] SmallCalibration = [3, 1, 5, 2, 2];

    [Theory]
    [InlineData(0.0, 6)]
    [InlineData(1.0, 6)]
    [InlineData(1.5, 5)]
    [InlineData(2.0, 5)]
    [InlineData(2.5, 3)]
    [InlineData(3.0, 3)]
    [InlineData(4.0, 2)]
    [InlineData(5.0, 2)]
    [InlineData(6.0, 1)]
    [InlineData(double.NegativeInfinity, 6)]
    [InlineData(double.PositiveInfinity, 1)]
    public void PValue_SmallCalibrationSet_MatchesHandCount(double score, int numerator)
    {
        // Calibration {1, 2, 2, 3, 5}, n = 5: p(s) = (1 + #{c ≥ s}) / 6.
        var detector = new OodDetector(new ValueScorer(), 1.0 / 3, SmallCalibration);

        detector.PValue(score).Should().Be(numerator / 6.0);
    }

    [Fact]
    public void Constructor_SmallCalibrationSet_ThresholdIsTheSecondLargestScore()
    {
        // α = 1/3, n = 5: k = ⌊α·6⌋ − 1 = 1, so the threshold is the 2nd largest calibration score, 3; a score is flagged
        // iff p ≤ 1/3 iff at most one calibration score is ≥ it.
        var detector = new OodDetector(new ValueScorer(), 1.0 / 3, SmallCalibration);

        detector.Threshold.Should().Be(3);
        detector.CalibrationScores.Should().Equal(1, 2, 2, 3, 5);
        detector.Predict(3.0).Should().Be(new OodPrediction(false, 3.0, 3 / 6.0));
        detector.Predict(3.5).Should().Be(new OodPrediction(true, 3.5, 2 / 6.0));
        detector.Predict(5.0).Should().Be(new OodPrediction(true, 5.0, 2 / 6.0));
        detector.Predict(0.0).Should().Be(new OodPrediction(false, 0.0, 1.0));
    }

    [Fact]
    public void Predict_ScoreTiedWithThreshold_IsInDistributionAndTheNextDoubleIsNot()
    {
        // Calibration {1, 2, 2, 2, 3}, α = ½: k = ⌊½·6⌋ − 1 = 2, threshold = 3rd largest = 2 (a run of ties).
        var detector = new OodDetector(new ValueScorer(), 0.5, [2, 1, 2, 3, 2]);

        detector.Threshold.Should().Be(2);
        detector.Predict(2.0).Should().Be(new OodPrediction(false, 2.0, 5 / 6.0), "the ties count against the input");
        var justAbove = Math.BitIncrement(2.0);
        detector.Predict(justAbove).Should().Be(new OodPrediction(true, justAbove, 2 / 6.0));
        detector.Predict(3.0).Should().Be(new OodPrediction(true, 3.0, 2 / 6.0));
    }

    [Fact]
    public void Predict_AlphaTimesNPlusOneIsAnInteger_PValueEqualToAlphaIsFlagged()
    {
        // n = 39, α = 0.05: (1 + 1)/40 = 0.05 ≤ α exactly, so k = 1 and the threshold is the second largest score.
        var scores = Enumerable.Range(1, 39).Select(i => (double)i).ToArray();
        var detector = new OodDetector(new ValueScorer(), 0.05, scores);

        detector.Threshold.Should().Be(38);
        detector.Predict(38.5).Should().Be(new OodPrediction(true, 38.5, 0.05));
        detector.Predict(38).Should().Be(new OodPrediction(false, 38, 0.075));
    }

    public static TheoryData<int, double> TieHeavyCases() => new()
    {
        { 7, 0.5 }, { 7, 1.0 / 7 }, { 39, 0.05 }, { 20, 0.05 }, { 21, 0.05 }, { 100, 0.01 }, { 100, 0.1 }, { 101, 0.3 },
        { 150, 1.0 / 3 }, { 999, 0.05 }, { 1000, 0.2 }, { 64, 0.9 }, { 3, 0.99 },
    };

    [Theory]
    [MemberData(nameof(TieHeavyCases))]
    public void Predict_IntegerScoresWithTies_VerdictEqualsThresholdRuleAndPValueRule(int n, double alpha)
    {
        var random = new Random(n * 31 + (int)(alpha * 1000));
        var calibration = Enumerable.Range(0, n).Select(_ => (double)random.Next(0, 10)).ToArray();
        var detector = new OodDetector(new ValueScorer(), alpha, calibration);
        var probes = calibration.Distinct()
            .SelectMany(s => new[] { s, Math.BitIncrement(s), Math.BitDecrement(s), s + 0.5 })
            .Concat([double.NegativeInfinity, double.PositiveInfinity, -1, 10])
            .ToArray();

        foreach (var score in probes)
        {
            var prediction = detector.Predict(score);
            var atLeast = calibration.Count(c => c >= score);
            prediction.PValue.Should().Be((1.0 + atLeast) / (n + 1.0), $"score {score}");
            prediction.IsOutOfDistribution.Should().Be(score > detector.Threshold, $"score {score} vs threshold {detector.Threshold}");
            prediction.IsOutOfDistribution.Should().Be(prediction.PValue <= alpha, $"score {score}, p {prediction.PValue}");
        }

        var flaggedAboveThreshold = detector.Predict(Math.BitIncrement(detector.Threshold));
        flaggedAboveThreshold.IsOutOfDistribution.Should().BeTrue("α ≥ 1/n leaves at least one score that can be flagged");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Constructor_RateOutsideZeroOne_ThrowsArgumentOutOfRange(double alpha)
    {
        var act = () => new OodDetector(new ValueScorer(), alpha, SmallCalibration);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*strictly between 0 and 1*")
            .Which.ParamName.Should().Be("targetFalsePositiveRate");
    }

    [Fact]
    public void Constructor_NoScores_ThrowsArgumentException()
    {
        var act = () => new OodDetector(new ValueScorer(), 0.5, []);

        act.Should().Throw<ArgumentException>().WithMessage("*at least one*got none*");
    }

    [Theory]
    [InlineData(0.05, 19, 20)]
    [InlineData(0.01, 99, 100)]
    [InlineData(0.3, 3, 4)]
    [InlineData(0.5, 1, 2)]
    public void Constructor_FewerThanOneOverAlphaScores_ThrowsNamingTheCountNeeded(double alpha, int count, int needed)
    {
        var act = () => new OodDetector(new ValueScorer(), alpha, new double[count]);

        act.Should().Throw<ArgumentException>().WithMessage($"*needs at least {needed} calibration scores*got {count}*");
        OodDetector.RequiredCalibrationCount(alpha).Should().Be(needed);
        new OodDetector(new ValueScorer(), alpha, new double[needed]).Threshold.Should().Be(0);
    }

    [Theory]
    [InlineData(double.NaN, "*index 2 is NaN*")]
    [InlineData(double.PositiveInfinity, "*index 2 is *; calibration needs finite scores*")]
    [InlineData(double.NegativeInfinity, "*index 2 is *; calibration needs finite scores*")]
    public void Constructor_NonFiniteScore_ThrowsNamingTheIndex(double bad, string message)
    {
        var act = () => new OodDetector(new ValueScorer(), 0.5, [1, 2, bad, 3]);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Calibrate_TooFewValidationExamples_ThrowsBeforeScoring()
    {
        using var scope = NewDisposeScope();
        var scorer = new ValueScorer();

        var act = () => OodDetector.Calibrate(scorer, zeros(10), 0.05);

        act.Should().Throw<ArgumentException>().WithMessage("*needs at least 20*got 10*")
            .Which.ParamName.Should().Be("inDistributionValidation");
        scorer.Calls.Should().Be(0);
    }

    [Fact]
    public void Calibrate_ScorerReturnsNaN_ThrowsNamingScorerAndExample()
    {
        using var scope = NewDisposeScope();

        var act = () => OodDetector.Calibrate(new FixedScorer([0, 1, double.NaN, 3]), zeros(4), 0.5);

        act.Should().Throw<ArgumentException>().WithMessage("*Fixed*example at index 2 is NaN*");
    }

    [Fact]
    public void Calibrate_ScorerReturnsWrongCount_ThrowsInvalidOperation()
    {
        using var scope = NewDisposeScope();

        var act = () => OodDetector.Calibrate(new FixedScorer([0, 1, 2]), zeros(4), 0.5);

        act.Should().Throw<InvalidOperationException>().WithMessage("*3 scores*[4]*");
    }

    [Fact]
    public void PValueAndPredict_NaNScore_Throw()
    {
        var detector = new OodDetector(new ValueScorer(), 0.5, SmallCalibration);

        ((Action)(() => detector.PValue(double.NaN))).Should().Throw<ArgumentException>().WithMessage("*NaN*");
        ((Action)(() => detector.Predict(double.NaN))).Should().Throw<ArgumentException>().WithMessage("*NaN*");
    }

    [Fact]
    public void PredictBatch_ScorerReturnsNaN_ThrowsInvalidOperation()
    {
        using var scope = NewDisposeScope();
        var detector = new OodDetector(new FixedScorer([1, double.NaN]), 0.5, SmallCalibration);

        var act = () => detector.Predict(zeros(2));

        act.Should().Throw<InvalidOperationException>().WithMessage("*Fixed*NaN*example 1*");
    }

    [Fact]
    public void PredictBatch_ValueScorer_GivesOnePredictionPerExampleInOrder()
    {
        using var scope = NewDisposeScope();
        var detector = OodDetector.Calibrate(new ValueScorer(), tensor(SmallCalibration), 1.0 / 3);

        var predictions = detector.Predict(tensor(new double[] { 6, 0, 3, 3.5 }));

        predictions.Should().Equal(
            new OodPrediction(true, 6, 1 / 6.0),
            new OodPrediction(false, 0, 1),
            new OodPrediction(false, 3, 3 / 6.0),
            new OodPrediction(true, 3.5, 2 / 6.0));
    }

    [Fact]
    public void Constructor_FromAnotherDetectorsState_GivesIdenticalVerdicts()
    {
        var random = new Random(5);
        var calibration = Enumerable.Range(0, 200).Select(_ => random.NextDouble()).ToList();
        var original = new OodDetector(new ValueScorer(), 0.05, calibration);

        var reloaded = new OodDetector(original.Scorer, original.TargetFalsePositiveRate, original.CalibrationScores);

        reloaded.Threshold.Should().Be(original.Threshold);
        reloaded.CalibrationScores.Should().Equal(original.CalibrationScores);
        for (int i = 0; i < 500; i++)
        {
            var score = random.NextDouble() * 1.2;
            reloaded.Predict(score).Should().Be(original.Predict(score));
        }
    }

    [Fact]
    public void CalibrationScores_IsASortedReadOnlyCopy()
    {
        var source = new double[] { 3, 1, 2 };
        var detector = new OodDetector(new ValueScorer(), 0.5, source);

        source[0] = -100;

        detector.CalibrationScores.Should().Equal(1, 2, 3);
        detector.CalibrationScores.Should().NotBeAssignableTo<double[]>();
    }

    // The marginal guarantee: over fresh calibration sets, P(flag an in-distribution input) = ⌊α(n + 1)⌋/(n + 1) for
    // continuous scores. Pooled over T calibrations of n scores, each tested on m fresh scores, the observed rate has
    // variance Var(Beta(k + 1, n − k))/T + E[f(1 − f)]/(T·m); the test allows 4 standard deviations.
    [Theory]
    [InlineData(0.01, 999)]
    [InlineData(0.05, 999)]
    [InlineData(0.2, 999)]
    [InlineData(0.05, 150)]
    [InlineData(0.2, 31)]
    public void Calibrate_FreshInDistributionScores_FalsePositiveRateWithinBinomialErrorOfTarget(double alpha, int n)
    {
        const int trials = 200;
        const int fresh = 1000;
        random.manual_seed(1234 + n + (long)(alpha * 100));
        var scorer = new ValueScorer();
        long falsePositives = 0;
        for (int t = 0; t < trials; t++)
        {
            using var scope = NewDisposeScope();
            var detector = OodDetector.Calibrate(scorer, randn(n, dtype: ScalarType.Float64), alpha);
            falsePositives += detector.Predict(randn(fresh, dtype: ScalarType.Float64)).Count(p => p.IsOutOfDistribution);
        }

        var observed = falsePositives / (double)(trials * fresh);
        var flaggedRanks = Math.Floor(alpha * (n + 1));
        var expected = flaggedRanks / (n + 1);
        var a = flaggedRanks;
        var b = n + 1 - flaggedRanks;
        var betaVariance = a * b / ((a + b) * (a + b) * (a + b + 1));
        var sigma = Math.Sqrt((betaVariance / trials) + ((expected * (1 - expected)) - betaVariance) / (trials * (double)fresh));

        expected.Should().BeLessThanOrEqualTo(alpha).And.BeGreaterThanOrEqualTo(alpha - (1.0 / (n + 1)));
        observed.Should().BeApproximately(expected, 4 * sigma, $"α = {alpha}, n = {n}, σ = {sigma}");
        observed.Should().BeLessThanOrEqualTo(alpha + (4 * sigma));
    }

    // End to end: a tabular RealNVP fitted to N(0, I) in 2-D, its NLL as the score, calibrated at α = 0.05 on fresh
    // in-distribution samples, separates N((4, 4), I) almost perfectly.
    [Fact]
    public void Calibrate_NllOfFlowOnGaussian_HitsTargetRateAndDetectsShiftedGaussian()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        using var flow = TabularRealNvp.Create(2, new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 32 });
        new FlowTrainer(flow, new TrainingOptions { Steps = 300, BatchSize = 128, LearningRate = 3e-3, Seed = 21 })
            .Train(randn(4000, 2), cancellationToken: TestContext.Current.CancellationToken);
        var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats);

        var detector = OodDetector.Calibrate(scorer, randn(2000, 2), 0.05);
        var inDistribution = detector.Predict(randn(4000, 2));
        var shifted = detector.Predict(randn(2000, 2).PlusInPlace(4));

        var falsePositiveRate = inDistribution.Count(p => p.IsOutOfDistribution) / 4000.0;
        var truePositiveRate = shifted.Count(p => p.IsOutOfDistribution) / 2000.0;
        var auroc = OodMetrics.Auroc(inDistribution.Select(p => p.Score).ToArray(), shifted.Select(p => p.Score).ToArray());
        TestContext.Current.SendDiagnosticMessage($"2-D Gaussian: FPR {falsePositiveRate:F4}, TPR {truePositiveRate:F4}, AUROC {auroc:F4}");

        // σ of the observed rate ≈ √(Var Beta(100, 1901) + α(1 − α)/4000) ≈ 0.0060; 4σ ≈ 0.024.
        falsePositiveRate.Should().BeApproximately(0.05, 0.024);
        auroc.Should().BeGreaterThan(0.99);
        truePositiveRate.Should().BeGreaterThan(0.95);
        shifted.Should().OnlyContain(p => p.PValue > 0 && p.PValue <= 1);
    }
}
