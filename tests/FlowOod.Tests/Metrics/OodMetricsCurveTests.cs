using System;
using System.Linq;
using FlowOod.Metrics;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Metrics;

public sealed class OodMetricsCurveTests
{
    // in = {0.1, 0.4}, ood = {0.35, 0.8}. Flag when score ≥ t, OOD positive. Thresholds from high to low:
    //   t = ∞:    TP 0, FP 0 → TPR 0,   FPR 0,   precision 1 (nothing flagged)
    //   t = 0.8:  TP 1, FP 0 → TPR 0.5, FPR 0,   precision 1
    //   t = 0.4:  TP 1, FP 1 → TPR 0.5, FPR 0.5, precision 1/2
    //   t = 0.35: TP 2, FP 1 → TPR 1,   FPR 0.5, precision 2/3
    //   t = 0.1:  TP 2, FP 2 → TPR 1,   FPR 1,   precision 1/2
    private static readonly double[] In = [0.1, 0.4];
    private static readonly double[] Ood = [0.35, 0.8];

    [Fact]
    public void Curve_SmallCase_MatchesHandComputedPoints()
    {
        var curve = OodMetrics.Curve(In, Ood);

        curve.Select(p => p.Threshold).Should().Equal(double.PositiveInfinity, 0.8, 0.4, 0.35, 0.1);
        curve.Select(p => p.TruePositiveRate).Should().Equal(0, 0.5, 0.5, 1, 1);
        curve.Select(p => p.FalsePositiveRate).Should().Equal(0, 0, 0.5, 0.5, 1);
        curve.Select(p => p.Precision).Should().Equal(1, 1, 0.5, 2.0 / 3, 0.5);
    }

    [Fact]
    public void AuprOut_SmallCase_IsAveragePrecision()
    {
        // Σ (Rₙ − Rₙ₋₁)·Pₙ = 0.5·1 + 0·½ + 0.5·⅔ + 0·½ = 5/6.
        OodMetrics.AuprOut(In, Ood).Should().BeApproximately(5.0 / 6, 1e-15);
    }

    [Fact]
    public void AuprIn_SmallCase_TreatsInDistributionAsPositive()
    {
        // Negated scores: in = {−0.1, −0.4} positive, ood = {−0.35, −0.8}. From high to low: −0.1 (P): R ½, P 1;
        // −0.35 (N): R ½, P ½; −0.4 (P): R 1, P ⅔; −0.8 (N): R 1, P ½ → AP = ½·1 + ½·⅔ = 5/6.
        OodMetrics.AuprIn(In, Ood).Should().BeApproximately(5.0 / 6, 1e-15);
    }

    [Fact]
    public void FprAtTpr_SmallCase_UsesTheHighestThresholdReachingTheRate()
    {
        // TPR ≥ 0.95 first at t = 0.35, where FPR = 0.5; TPR ≥ 0.5 already at t = 0.8 with FPR 0.
        OodMetrics.FprAtTpr(In, Ood).Should().Be(0.5);
        OodMetrics.FprAtTpr(In, Ood, truePositiveRate: 0.5).Should().Be(0);
    }

    [Fact]
    public void DetectionError_SmallCase_IsTheBestBalancedError()
    {
        // ½(1 − TPR) + ½ FPR per point: 0.5, 0.25, 0.5, 0.25, 0.5 → 0.25.
        OodMetrics.DetectionError(In, Ood).Should().Be(0.25);
    }

    [Fact]
    public void Metrics_PerfectSeparation_AreIdeal()
    {
        double[] inScores = [1, 2, 3];
        double[] oodScores = [4, 5];

        OodMetrics.AuprOut(inScores, oodScores).Should().Be(1);
        OodMetrics.AuprIn(inScores, oodScores).Should().Be(1);
        OodMetrics.FprAtTpr(inScores, oodScores).Should().Be(0);
        OodMetrics.DetectionError(inScores, oodScores).Should().Be(0);
    }

    [Fact]
    public void AuprOut_AllTied_IsTheOodFraction()
    {
        OodMetrics.AuprOut([7, 7, 7], [7]).Should().BeApproximately(0.25, 1e-15);
    }

    [Fact]
    public void Metrics_InvariantUnderStrictlyIncreasingTransforms()
    {
        var random = new Random(3);
        var inScores = Enumerable.Range(0, 40).Select(_ => (double)random.Next(0, 8)).ToArray();
        var oodScores = Enumerable.Range(0, 30).Select(_ => (double)random.Next(2, 10)).ToArray();
        double Transform(double s) => Math.Exp(s / 3) * 2 + 1;

        var t = (inScores.Select(Transform).ToArray(), oodScores.Select(Transform).ToArray());

        OodMetrics.AuprOut(t.Item1, t.Item2).Should().BeApproximately(OodMetrics.AuprOut(inScores, oodScores), 1e-12);
        OodMetrics.AuprIn(t.Item1, t.Item2).Should().BeApproximately(OodMetrics.AuprIn(inScores, oodScores), 1e-12);
        OodMetrics.FprAtTpr(t.Item1, t.Item2).Should().Be(OodMetrics.FprAtTpr(inScores, oodScores));
        OodMetrics.DetectionError(t.Item1, t.Item2).Should().Be(OodMetrics.DetectionError(inScores, oodScores));
    }

    [Fact]
    public void AurocConfidenceInterval_ContainsTheEstimateAndIsReproducible()
    {
        var random = new Random(5);
        var inScores = Enumerable.Range(0, 200).Select(_ => random.NextDouble()).ToArray();
        var oodScores = Enumerable.Range(0, 150).Select(_ => random.NextDouble() + 0.3).ToArray();
        var auroc = OodMetrics.Auroc(inScores, oodScores);

        var (lower, upper) = OodMetrics.AurocConfidenceInterval(inScores, oodScores, resamples: 400, seed: 1);

        lower.Should().BeLessThan(auroc);
        upper.Should().BeGreaterThan(auroc);
        (upper - lower).Should().BeInRange(0.02, 0.2, "350 scores pin the AUROC down to a few hundredths");
        OodMetrics.AurocConfidenceInterval(inScores, oodScores, resamples: 400, seed: 1).Should().Be((lower, upper));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void FprAtTpr_RateOutOfRange_Throws(double rate)
    {
        var act = () => OodMetrics.FprAtTpr(In, Ood, rate);

        act.Should().Throw<ArgumentException>().WithMessage("*true-positive rate*");
    }

    [Fact]
    public void Metrics_EmptySetOrNaN_Throw()
    {
        FluentActions.Invoking(() => OodMetrics.AuprOut([], Ood)).Should().Throw<ArgumentException>().WithMessage("*non-empty*");
        FluentActions.Invoking(() => OodMetrics.DetectionError(In, [double.NaN])).Should().Throw<ArgumentException>().WithMessage("*NaN*");
        FluentActions.Invoking(() => OodMetrics.AurocConfidenceInterval(In, Ood, level: 1)).Should().Throw<ArgumentException>();
    }
}
