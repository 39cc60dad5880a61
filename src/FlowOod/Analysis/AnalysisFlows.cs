using System;
using FlowOod.Models;

namespace FlowOod.Analysis;

/// <summary>Runs an analysis on a flow in the BatchNorm mode asked for, without touching the flow itself.</summary>
internal static class AnalysisFlows
{
    /// <summary>
    /// <paramref name="query"/> on <paramref name="flow"/> itself when it is in evaluation mode and
    /// <see cref="BatchNormStatistics.Running"/> is asked for; otherwise on a private copy in the asked mode (training
    /// mode for <see cref="BatchNormStatistics.Batch"/>), disposed before returning. The query must not return tensors
    /// that share memory with the flow's parameters or buffers.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="statistics"/> is not a defined value.</exception>
    /// <exception cref="NotSupportedException">A copy is needed and the flow was not made by builder options.</exception>
    public static T Query<T>(NormalizingFlow flow, BatchNormStatistics statistics, Func<NormalizingFlow, T> query)
    {
        CheckStatistics(statistics);
        if (statistics == BatchNormStatistics.Running && flow.IsInEvaluationMode)
        {
            return query(flow);
        }

        using var copy = FlowCopy.Of(flow);
        copy.train(statistics == BatchNormStatistics.Batch);
        return query(copy);
    }

    /// <summary>Throws when <paramref name="statistics"/> is not a defined value.</summary>
    public static void CheckStatistics(BatchNormStatistics statistics)
    {
        if (!Enum.IsDefined(statistics))
        {
            throw new ArgumentOutOfRangeException(nameof(statistics), statistics, $"Unknown BatchNorm statistics {(int)statistics}.");
        }
    }
}
