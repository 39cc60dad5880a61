using FlowOod.Testing;

namespace FlowOod.Tests.Bijectors;

// Tolerances of the scoring and flow tests. The conformance checks' table is FlowOod.Testing.ConformanceTolerances;
// batch invariance shares its entry.
internal static class Tolerances
{
    // Scoring a batch of 10 vs scoring each item alone (see ConformanceTolerances.BatchInvarianceRelative for why).
    public static readonly double BatchInvarianceRelative = ConformanceTolerances.Default.BatchInvarianceRelative;

    // Analytic densities (NormalizingFlow.LogProb and BitsPerDim vs closed forms evaluated in C# doubles): a handful of
    // float64 operations, so a few ulps.
    public const double AnalyticRelative = 1e-12;
}
