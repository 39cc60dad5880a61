using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.OnnxRuntime;
using FluentAssertions;

namespace FlowOod.Tests.Shared;

/// <summary>
/// Two runtimes' decisions on the same inputs (FlowOod on libtorch and ONNX Runtime, or two ONNX graphs), compared as
/// far as float32 rounding of their scores allows.
/// </summary>
/// <remarks>
/// <para>A p-value is (1 + #{calibration scores ≥ s}) / (n + 1) and a verdict is p ≤ α, so both can change only where a
/// calibration score lies between the two runtimes' scores of one input: a rounding tie. Which inputs tie depends on the
/// processor's kernels (an AMD EPYC with avx2 only tied one of 2,000 images whose scores differed by 5.5·10⁻⁶ bits/dim,
/// where another EPYC tied none), so exact equality of all p-values is a test that fails by chance.</para>
/// <para>Asserted instead: where no calibration score lies in [min(a, e), max(a, e)], p-values and verdicts are identical;
/// where some do, the p-values differ by at most their number over n + 1; and ties are rare (at most 1% of the inputs,
/// and at least 2 allowed), so scores that drift apart still fail.</para>
/// </remarks>
internal static class DecisionAgreement
{
    /// <summary>
    /// Asserts that <paramref name="actual"/> and <paramref name="expected"/> (same inputs, same order) agree: detector
    /// predictions (<see cref="OodPrediction"/>, <see cref="OnnxPrediction"/>) or gate decisions (<see cref="GateDecision"/>,
    /// <see cref="OnnxGateDecision"/>), in any pairing.
    /// </summary>
    /// <param name="actual">The decisions under test.</param>
    /// <param name="expected">The reference decisions.</param>
    /// <param name="calibrationScores">The calibration scores both p-values were taken against.</param>
    /// <param name="because">Why they must agree, for the messages.</param>
    public static void ShouldAgree<TActual, TExpected>(
        IEnumerable<TActual> actual, IEnumerable<TExpected> expected, IReadOnlyList<double> calibrationScores, string because)
        where TActual : struct
        where TExpected : struct =>
        ShouldAgree(actual.Select(d => Row(d)).ToArray(), expected.Select(d => Row(d)).ToArray(), calibrationScores, because);

    // (score, p-value, flagged) of one decision of a kind above.
    private static (double Score, double PValue, bool Flagged) Row(object decision) => decision switch
    {
        OodPrediction p => (p.Score, p.PValue, p.IsOutOfDistribution),
        OnnxPrediction p => (p.Score, p.PValue, p.IsOutOfDistribution),
        GateDecision d => (d.Score, d.PValue, d.IsOutOfDistribution),
        OnnxGateDecision d => (d.Score, d.PValue, d.IsOutOfDistribution),
        _ => throw new ArgumentException($"Not a prediction or a gate decision: {decision.GetType().Name}.", nameof(decision)),
    };

    // The comparison itself, on (score, p-value, flagged) per input.
    private static void ShouldAgree(
        IReadOnlyList<(double Score, double PValue, bool Flagged)> actual,
        IReadOnlyList<(double Score, double PValue, bool Flagged)> expected,
        IReadOnlyList<double> calibrationScores,
        string because)
    {
        actual.Should().HaveCount(expected.Count);
        var n = calibrationScores.Count;
        var ties = 0;
        for (int i = 0; i < actual.Count; i++)
        {
            var (a, e) = (actual[i], expected[i]);
            var (low, high) = (Math.Min(a.Score, e.Score), Math.Max(a.Score, e.Score));
            var between = calibrationScores.Count(c => c >= low && c <= high);
            if (between == 0)
            {
                a.PValue.Should().Be(e.PValue, $"input {i} has no calibration score between its two scores {e.Score:R} and {a.Score:R}: {because}");
                a.Flagged.Should().Be(e.Flagged, $"input {i} has no calibration score between its two scores {e.Score:R} and {a.Score:R}: {because}");
                continue;
            }

            ties++;
            Math.Abs(a.PValue - e.PValue).Should().BeLessThanOrEqualTo(
                (between + 0.5) / (n + 1.0), $"input {i}'s scores {e.Score:R} and {a.Score:R} enclose {between} calibration score(s)");
        }

        ties.Should().BeLessThanOrEqualTo(Math.Max(2, actual.Count / 100), $"rounding ties are rare when the scores agree: {because}");
    }
}
