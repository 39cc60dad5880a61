using System;

namespace FlowOod;

/// <summary>
/// Test hook: how often the calling thread has checked a request's facts. Each serving path must read a batch's values
/// (finite, range) once, check each score for NaN once and evaluate the flow once per fixed-size chunk; tests reset the
/// counters, run one request and assert those counts. Per thread, so parallel tests do not see each other's counts.
/// </summary>
internal static class CheckCounters
{
    [ThreadStatic]
    private static int valueReads;

    [ThreadStatic]
    private static int scoreNaNChecks;

    [ThreadStatic]
    private static int flowEvaluations;

    /// <summary>Reads of a batch's values on the host (finiteness and range: one per check of a tensor).</summary>
    public static int ValueReads => valueReads;

    /// <summary>Scores checked for NaN (one per score per check).</summary>
    public static int ScoreNaNChecks => scoreNaNChecks;

    /// <summary>Flow evaluations (one per chunk a flow sees).</summary>
    public static int FlowEvaluations => flowEvaluations;

    public static void Reset() => (valueReads, scoreNaNChecks, flowEvaluations) = (0, 0, 0);

    internal static void ValueRead() => valueReads++;

    internal static void ScoresChecked(int count) => scoreNaNChecks += count;

    internal static void FlowEvaluated() => flowEvaluations++;
}
