using System;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Cli;

/// <summary>One evaluation during training: the step, held-out in-distribution bits/dim and the NLL AUROC at that step.</summary>
internal sealed record BiasesCheckpoint(int Step, double HeldOutBitsPerDim, double Auroc);

/// <summary>
/// Compares models "at matched bits/dim": the AUROC each model had when its held-out bits/dim first reached a common
/// level, interpolated linearly between checkpoints.
/// </summary>
internal static class MatchedBitsPerDim
{
    /// <summary>
    /// The common level: the lowest held-out bits/dim every model reached, max over models of (min over its
    /// checkpoints). NaN when a model has no checkpoint with a finite value.
    /// </summary>
    public static double Level(IEnumerable<IReadOnlyList<BiasesCheckpoint>> curves)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var level = double.NegativeInfinity;
        foreach (var curve in curves)
        {
            var finite = curve.Where(c => double.IsFinite(c.HeldOutBitsPerDim)).ToList();
            if (finite.Count == 0)
            {
                return double.NaN;
            }

            level = Math.Max(level, finite.Min(c => c.HeldOutBitsPerDim));
        }

        return double.IsFinite(level) ? level : double.NaN;
    }

    /// <summary>
    /// The AUROC of <paramref name="curve"/> (checkpoints in step order) at held-out bits/dim <paramref name="level"/>:
    /// on the first segment (b_i, b_{i+1}) that reaches the level (b_i ≥ level ≥ b_{i+1}),
    /// AUROC_i + (AUROC_{i+1} − AUROC_i)·(b_i − level)/(b_i − b_{i+1}). When the first checkpoint is already at or below
    /// the level, its AUROC (the curve has no earlier point). NaN when the curve never reaches the level.
    /// </summary>
    public static double AurocAt(IReadOnlyList<BiasesCheckpoint> curve, double level)
    {
        ArgumentNullException.ThrowIfNull(curve);
        if (curve.Count == 0 || double.IsNaN(level))
        {
            return double.NaN;
        }

        if (curve[0].HeldOutBitsPerDim <= level)
        {
            return curve[0].Auroc;
        }

        for (int i = 0; i + 1 < curve.Count; i++)
        {
            double b0 = curve[i].HeldOutBitsPerDim, b1 = curve[i + 1].HeldOutBitsPerDim;
            if (b0 >= level && b1 <= level)
            {
                var fraction = b0 > b1 ? (b0 - level) / (b0 - b1) : 1;
                return curve[i].Auroc + ((curve[i + 1].Auroc - curve[i].Auroc) * fraction);
            }
        }

        return double.NaN;
    }
}
