using System;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

// The feature-space scorer's managed paths for small chunks of rows (HostCouplingFlow): the embedding detector's rows and
// the gate's padded chunks.
public sealed partial class FeatureSpaceScorer
{
    /// <summary>
    /// <see cref="ScoreFeatures(Tensor, string, string, bool)"/> with <c>checkedByCaller</c> for <paramref name="count"/>
    /// rows in managed memory (<paramref name="rows"/>, <c>[count, D]</c> row-major; the embedding detector's chunks),
    /// standardised and scored in managed code where the flow has that path (<see cref="HostCouplingFlow"/>), or null
    /// (then the caller scores a tensor). Each row's score depends on that row alone.
    /// </summary>
    internal double[]? TryScoreRowsOnHost(ReadOnlySpan<float> rows, int count)
    {
        ThrowIfDisposed();
        if (Host(Flow) is not { } host || rows.Length != count * FeatureDimension)
        {
            return null;
        }

        var standardized = new float[rows.Length];
        Standardizer.ApplyUnchecked(rows, standardized);
        return host.TryLogProb(standardized, count) is { } logProb ? Scores(logProb, count, outOfRange: null) : null;
    }

    /// <summary>
    /// The scores of the first <paramref name="scoredRows"/> rows of a gate's chunk <paramref name="features"/> <c>[N, D]</c>
    /// (the classifier's features of N inputs, the rest padding), every row checked as
    /// <see cref="ScoreFeatures(Tensor, string, string)"/> checks them, the padding too.
    /// </summary>
    /// <remarks>
    /// Where the flow has the managed path (<see cref="HostCouplingFlow"/>) and the chunk is a contiguous float32 CPU tensor
    /// of at most <see cref="HostCouplingFlow.MaxRows"/> rows, its values are read once, in place, checked finite,
    /// standardised and range-checked on the host, and only the scored rows reach the flow: a row's score depends on that
    /// row alone there, so it is the same bits as when the whole chunk is scored. Otherwise the whole chunk is scored as
    /// one piece (<see cref="ScoreFeatures(Tensor, string, string)"/>), so libtorch always sees chunks of one shape.
    /// </remarks>
    internal double[] ScoreChunkRows(Tensor features, int scoredRows, string source, string parameterName)
    {
        ThrowIfDisposed();
        var rows = features.size(0);
        ValidateFeatureLayout(features, source, rows, FeatureDimension, parameterName);
        if (scoredRows < 1 || scoredRows > rows)
        {
            throw new ArgumentOutOfRangeException(nameof(scoredRows), scoredRows, $"Expected 1 to {rows} rows to score.");
        }

        if (Host(Flow) is not { } host
            || features.dtype != ScalarType.Float32
            || features.device_type != DeviceType.CPU
            || rows > HostCouplingFlow.MaxRows
            || !features.is_contiguous())
        {
            return ScoreFeatures(features, source, parameterName)[..scoredRows];
        }

        var values = MemoryMarshal.Cast<byte, float>(features.bytes);
        CheckCounters.ValueRead();
        foreach (var value in values)
        {
            if (!float.IsFinite(value))
            {
                throw NonFiniteFeatures(source, null, parameterName);
            }
        }

        var standardized = new float[values.Length];
        Standardizer.ApplyUnchecked(values, standardized);
        var outOfRange = CheckStandardized(values, standardized, parameterName);
        GC.KeepAlive(features); // values is a view of its native memory: the tensor must not be finalized before here
        var logProb = host.TryLogProb(standardized.AsSpan(0, scoredRows * FeatureDimension), scoredRows)
            ?? LogProbOfRows(standardized, (int)rows);
        return Scores(logProb, scoredRows, outOfRange);
    }

    // The scores −log p of the first count rows, +∞ for a row out of range because of the stored mean, checked for NaN.
    private double[] Scores(double[] logProb, int count, bool[]? outOfRange)
    {
        var scores = new double[count];
        for (int i = 0; i < count; i++)
        {
            scores[i] = outOfRange?[i] == true ? double.PositiveInfinity : -logProb[i];
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    // CheckStandardized on the host: the same test on the same float32 values (x the features, z their standardised
    // form, both [N, D] row-major), the same exception; rows out of range because of the stored mean are zeroed in z.
    private bool[]? CheckStandardized(ReadOnlySpan<float> x, float[] z, string parameterName)
    {
        var extreme = 0.0;
        foreach (var value in z)
        {
            extreme = Math.Max(extreme, Math.Abs((double)value));
        }

        if (extreme <= MaxStandardizedFeature)
        {
            return null;
        }

        var wide = Array.ConvertAll(z, static value => (double)value);
        var features = new double[x.Length];
        for (int k = 0; k < x.Length; k++)
        {
            features[k] = x[k];
        }

        var outOfRange = OutOfRangeRows(wide, features, extreme, parameterName);
        for (int r = 0; r < outOfRange.Length; r++)
        {
            if (outOfRange[r])
            {
                Array.Clear(z, r * FeatureDimension, FeatureDimension);
            }
        }

        return outOfRange;
    }

    // The flow's log-density of all rows [rows, D] through libtorch, as one piece (when the managed path declines).
    private double[] LogProbOfRows(float[] standardized, int rows)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var (dtype, device) = FlowStorage();
        var batch = tensor(standardized, [rows, FeatureDimension], ScalarType.Float32).to(dtype, device);
        return LogProbUnchecked(Flow, batch, oneChunk: true);
    }
}
