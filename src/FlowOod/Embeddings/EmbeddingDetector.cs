using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Embeddings;

/// <summary>
/// An out-of-distribution detector for embeddings computed elsewhere (a classifier's penultimate layer, a sentence
/// encoder, a vision backbone): feature rows <c>[D]</c> in, score, conformal p-value and verdict out.
/// </summary>
/// <remarks>
/// <para>Maths: a <see cref="FeatureSpaceScorer"/> with the identity extractor (<see cref="FeatureSpaceScorer.FitOnFeatures"/>)
/// scores a row f by s(f) = −log p_flow((f − μ)/σ) in nats (higher = more OOD), and an <see cref="OodDetector"/>
/// calibrated on n held-out in-distribution rows gives p(s) = (1 + #{cᵢ ≥ s})/(n + 1); a row is out-of-distribution when
/// p ≤ α. If the calibration rows and a new in-distribution row are exchangeable, P(p ≤ α) ≤ α. Same maths as
/// <c>OodGate.Fit</c>, whose classifier features are replaced by the rows themselves.</para>
/// <para>Determinism: the flow sees chunks of exactly <see cref="ChunkSize"/> rows (the last padded with copies of its
/// last row), so a row's answer is bit-identical whatever batch, position or thread it comes in; calibration scores are
/// computed the same way. (With <see cref="ChunkSize"/> ≤ 16 and a <see cref="Models.TabularRealNvp"/> flow, the
/// default, chunks are scored in managed code row by row, where no padding is needed for that.) A detector is immutable
/// and safe for concurrent calls. It owns its scorer and flow.</para>
/// <para>Files: <see cref="Save"/> writes a model file of kind <c>"embedding-detector"</c> (docs/model-format.md), which
/// <see cref="Load"/> reads with no code passed: the identity extractor is stored as data.</para>
/// </remarks>
public sealed class EmbeddingDetector : IDisposable
{
    /// <summary>The default <see cref="ChunkSize"/>: rows per fixed-size evaluation.</summary>
    public const int DefaultChunkSize = 16;

    /// <summary>The largest <see cref="ChunkSize"/> accepted.</summary>
    public const int MaxChunkSize = 4096;

    /// <summary>The model-file kind of a saved detector.</summary>
    public const string FileKind = "embedding-detector";

    /// <summary>
    /// How far, in standard deviations of the in-distribution rows, a value may lie from their mean before its row is out
    /// of distribution without evaluation (half <see cref="FeatureSpaceScorer.MaxStandardizedFeature"/>, beyond which the
    /// flow's arithmetic overflows): such a row gets score +∞ and p-value 1/(n + 1), never an exception.
    /// </summary>
    public const double MaxEvaluatedDeviation = FeatureSpaceScorer.MaxStandardizedFeature / 2;

    private const string Source = "The embedding rows";
    private readonly FeatureSpaceScorer scorer;
    private int disposed;

    internal EmbeddingDetector(OodDetector detector, int chunkSize)
    {
        Detector = detector;
        scorer = (FeatureSpaceScorer)detector.Scorer;
        ChunkSize = chunkSize;
    }

    /// <summary>D, the number of values per row.</summary>
    public int Dimension => scorer.FeatureDimension;

    /// <summary>Rows per fixed-size evaluation (part of the results, so stored in the file).</summary>
    public int ChunkSize { get; }

    /// <summary>The calibrated detector (its scorer is the feature-space scorer on rows); owned by this object.</summary>
    public OodDetector Detector { get; }

    /// <summary>α, the target false-positive rate in force.</summary>
    public double TargetFalsePositiveRate => Detector.TargetFalsePositiveRate;

    /// <summary>The threshold in nats: a row scoring strictly above it is out-of-distribution.</summary>
    public double Threshold => Detector.Threshold;

    /// <summary>
    /// Fits a detector on in-distribution rows: a random part (fraction 1 − <see cref="EmbeddingDetectorOptions.CalibrationFraction"/>,
    /// split with <see cref="EmbeddingDetectorOptions.Seed"/>) trains the feature-space flow, the held-out rest calibrates
    /// the detector at α = <see cref="EmbeddingDetectorOptions.TargetFalsePositiveRate"/>.
    /// </summary>
    /// <param name="rows">N in-distribution rows of D values each (D ≥ 2; all rows the same length; finite).</param>
    /// <param name="options">The settings (default <c>new EmbeddingDetectorOptions()</c>).</param>
    /// <param name="progress">Receives the flow trainer's reports (optional).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The detector.</returns>
    /// <exception cref="ArgumentException">No rows, a null or ragged row, NaN/Inf, D &lt; 2, too few rows for α and the
    /// calibration fraction, or every feature constant.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="TrainingDivergedException">The flow's training diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static EmbeddingDetector Fit(
        float[][] rows, EmbeddingDetectorOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var flat = EmbeddingRows.Flatten(rows, null, nameof(rows), out var count, out var width);
        using var scope = NewDisposeScope();
        return FitCore(tensor(flat, [count, width]), options, progress, nameof(rows), cancellationToken);
    }

    /// <summary>Fits a detector on <paramref name="rowCount"/> rows stored back to back (row-major) in <paramref name="values"/>; see <see cref="Fit(float[][], EmbeddingDetectorOptions?, IProgress{TrainingProgress}?, CancellationToken)"/>.</summary>
    /// <param name="values">rowCount · D finite values, row after row.</param>
    /// <param name="rowCount">N, the number of rows (D = values.Length / N, at least 2).</param>
    /// <param name="options">The settings (default <c>new EmbeddingDetectorOptions()</c>).</param>
    /// <param name="progress">Receives the flow trainer's reports (optional).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The detector.</returns>
    /// <exception cref="ArgumentException">The length is not a multiple of the row count, NaN/Inf, D &lt; 2, too few rows.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The row count is below 1, or an option is out of range.</exception>
    public static EmbeddingDetector Fit(
        ReadOnlySpan<float> values, int rowCount, EmbeddingDetectorOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        var width = values.Length / rowCount;
        EmbeddingRows.CheckDimension(width, nameof(values));
        EmbeddingRows.CheckFlat(values, rowCount, width, nameof(values));
        using var scope = NewDisposeScope();
        return FitCore(tensor(values.ToArray(), [rowCount, width]), options, progress, nameof(values), cancellationToken);
    }

    /// <summary>Fits a detector on a tensor of rows; see <see cref="Fit(float[][], EmbeddingDetectorOptions?, IProgress{TrainingProgress}?, CancellationToken)"/>.</summary>
    /// <param name="rows"><c>[N, D]</c> float32, finite, D ≥ 2 (any device but meta; the caller keeps it).</param>
    /// <param name="options">The settings (default <c>new EmbeddingDetectorOptions()</c>).</param>
    /// <param name="progress">Receives the flow trainer's reports (optional).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The detector.</returns>
    /// <exception cref="ArgumentException">Wrong rank or dtype, no rows, NaN/Inf, D &lt; 2, too few rows.</exception>
    public static EmbeddingDetector Fit(
        Tensor rows, EmbeddingDetectorOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        EmbeddingRows.CheckTensor(rows, null, nameof(rows));
        using var scope = NewDisposeScope();
        return FitCore(rows, options, progress, nameof(rows), cancellationToken);
    }

    /// <summary>The verdict for one row.</summary>
    /// <param name="row">D finite values.</param>
    /// <returns>Score (nats), p-value and verdict; bit-identical to the row's answer in any batch.</returns>
    /// <exception cref="ArgumentException">Wrong length or a NaN/Inf value.</exception>
    /// <exception cref="ObjectDisposedException">The detector is disposed.</exception>
    public OodPrediction PredictOne(ReadOnlySpan<float> row) => PredictFlat(row, 1, nameof(row))[0];

    /// <inheritdoc cref="PredictOne(ReadOnlySpan{float})"/>
    public OodPrediction PredictOne(ReadOnlyMemory<float> row) => PredictFlat(row.Span, 1, nameof(row))[0];

    /// <inheritdoc cref="PredictOne(ReadOnlySpan{float})"/>
    public OodPrediction PredictOne(float[] row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return PredictFlat(row, 1, nameof(row))[0];
    }

    /// <summary>One verdict per row.</summary>
    /// <param name="rows">N ≥ 1 rows of exactly <see cref="Dimension"/> finite values.</param>
    /// <returns>N predictions in row order.</returns>
    /// <exception cref="ArgumentException">No rows, a null row, a row of another length, or NaN/Inf. (A finite row
    /// however far from the data is an answer: beyond <see cref="MaxEvaluatedDeviation"/> it scores +∞ and is out of distribution.)</exception>
    /// <exception cref="ObjectDisposedException">The detector is disposed.</exception>
    public OodPrediction[] Predict(float[][] rows)
    {
        ThrowIfDisposed();
        var flat = EmbeddingRows.Flatten(rows, Dimension, nameof(rows), out var count, out _);
        return Verdicts(ScoreFlat(flat, count, nameof(rows)));
    }

    /// <summary>One verdict per row of <paramref name="rowCount"/> rows stored back to back in <paramref name="values"/>.</summary>
    /// <param name="values">rowCount · <see cref="Dimension"/> finite values, row after row.</param>
    /// <param name="rowCount">N ≥ 1.</param>
    /// <returns>N predictions in row order.</returns>
    /// <exception cref="ArgumentException">The length is not rowCount · D, or NaN/Inf.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The row count is below 1.</exception>
    /// <exception cref="ObjectDisposedException">The detector is disposed.</exception>
    public OodPrediction[] Predict(ReadOnlySpan<float> values, int rowCount) => PredictFlat(values, rowCount, nameof(values));

    /// <summary>One verdict per row of a tensor.</summary>
    /// <param name="rows"><c>[N, D]</c> float32, finite, N ≥ 1 (moved to the flow's device chunk by chunk).</param>
    /// <returns>N predictions in row order.</returns>
    /// <exception cref="ArgumentException">Wrong shape or dtype, no rows, NaN/Inf, on the meta device.</exception>
    /// <exception cref="ObjectDisposedException">The detector is disposed.</exception>
    public OodPrediction[] Predict(Tensor rows)
    {
        ThrowIfDisposed();
        EmbeddingRows.CheckTensor(rows, Dimension, nameof(rows));
        return Verdicts(ScoreFlat(EmbeddingRows.ToArray(rows), (int)rows.size(0), nameof(rows)));
    }

    /// <summary>
    /// Saves the detector as one model file of kind <c>"embedding-detector"</c>: the scorer (flow, standardiser, the
    /// identity extractor as data), α, threshold, calibration scores, D and the chunk size. Written atomically (a
    /// temporary file in the same folder, flushed, renamed over the target).
    /// </summary>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="ObjectDisposedException">The detector is disposed.</exception>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(path);
        EmbeddingDetectorFile.Save(this, path, metadata);
    }

    /// <summary>Loads a detector saved by <see cref="Save"/>; no code is needed. Without an α override it answers exactly as the saved one.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, size limit and other model-file options (an extractor passed there is not used).</param>
    /// <param name="targetFalsePositiveRate">Replaces the stored α (the threshold is recomputed from the stored calibration
    /// scores); in (0, 1) and at least 1/n. Default null: the stored α.</param>
    /// <returns>The detector; it owns what it loaded.</returns>
    /// <exception cref="Persistence.ModelFormatException">The file is not a valid embedding-detector file (truncated,
    /// corrupted, another kind, sizes out of bounds, a scorer that is not a feature-space scorer on rows, a stored threshold
    /// that disagrees with the calibration scores, ...).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The α override is not in (0, 1).</exception>
    /// <exception cref="ArgumentException">The α override is below 1/n for the file's n calibration scores.</exception>
    public static EmbeddingDetector Load(string path, Persistence.ModelLoadOptions? options = null, double? targetFalsePositiveRate = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (targetFalsePositiveRate is { } alpha && !(alpha > 0 && alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(targetFalsePositiveRate), alpha, $"The target false-positive rate must lie strictly between 0 and 1, got {alpha}.");
        }

        return EmbeddingDetectorFile.Load(path, options, targetFalsePositiveRate);
    }

    /// <summary>Disposes the detector, its scorer and flow; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            Detector.Dispose();
        }
    }

    private static EmbeddingDetector FitCore(
        Tensor rows, EmbeddingDetectorOptions? options, IProgress<TrainingProgress>? progress, string parameterName, CancellationToken cancellationToken)
    {
        options ??= new EmbeddingDetectorOptions();
        options.Validate();
        IntraOpThreads.Adopt();
        var count = rows.size(0);
        var width = rows.size(1);
        if (options.ChunkSize * width > EmbeddingRows.MaxChunkValues)
        {
            throw new ArgumentException(
                $"Chunks of {options.ChunkSize} rows of {width} values exceed the {EmbeddingRows.MaxChunkValues} values a chunk may hold; lower ChunkSize.", parameterName);
        }

        var calibrationCount = CalibrationSplit.CalibrationCount(count, options.CalibrationFraction, options.TargetFalsePositiveRate, "rows", parameterName);
        var (trainIndices, calibrationIndices) = CalibrationSplit.Split(count, calibrationCount, options.Seed);
        var train = rows.index_select(0, tensor(trainIndices, device: rows.device));
        var calibration = rows.index_select(0, tensor(calibrationIndices, device: rows.device));
        var scorer = FeatureSpaceScorer.FitOnFeatures(train, options.FeatureFlow, progress, cancellationToken);
        try
        {
            // Calibration scores come from the serving path itself: the same chunks, padding and far-row rule.
            var scores = ScoreRows(scorer, options.ChunkSize, EmbeddingRows.ToArray(calibration), (int)calibration.size(0), parameterName);
            return new EmbeddingDetector(new OodDetector(scorer, options.TargetFalsePositiveRate, scores, ownsScorer: true), options.ChunkSize);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    private OodPrediction[] PredictFlat(ReadOnlySpan<float> values, int rowCount, string parameterName)
    {
        ThrowIfDisposed();
        EmbeddingRows.CheckFlat(values, rowCount, Dimension, parameterName);
        return Verdicts(ScoreFlat(values, rowCount, parameterName));
    }

    // Chunks built in managed memory: exactly ChunkSize rows each, the last padded with copies of its last row. A row with
    // a value beyond MaxEvaluatedDeviation is not evaluated (its slot holds the mean, so the chunk stays valid) and
    // scores +∞; rows are evaluated independently, so the substitution changes no other row's score.
    private double[] ScoreFlat(ReadOnlySpan<float> values, int rowCount, string parameterName) =>
        ScoreRows(scorer, ChunkSize, values, rowCount, parameterName);

    private static double[] ScoreRows(FeatureSpaceScorer scorer, int chunkSize, ReadOnlySpan<float> values, int rowCount, string parameterName)
    {
        IntraOpThreads.Adopt();
        var width = scorer.FeatureDimension;
        var mean = scorer.Standardizer.Mean;
        var deviation = scorer.Standardizer.StandardDeviation;
        var scores = new double[rowCount];
        Device? device = null;
        var buffer = new float[chunkSize * width];
        var far = new bool[chunkSize];
        for (int start = 0; start < rowCount; start += chunkSize)
        {
            var length = Math.Min(chunkSize, rowCount - start);
            values.Slice(start * width, length * width).CopyTo(buffer);
            for (int r = 0; r < length; r++)
            {
                var row = buffer.AsSpan(r * width, width);
                far[r] = IsFar(row, mean, deviation);
                if (far[r])
                {
                    for (int j = 0; j < width; j++)
                    {
                        row[j] = (float)mean[j];
                    }
                }
            }

            // Chunks of at most HostCouplingFlow.MaxRows rows through a flow the scorer computes in managed code need no
            // padding: there a row's score depends on that row alone. (Larger chunks always go to libtorch, padded, so
            // that no row's path depends on its position.)
            if (chunkSize <= HostCouplingFlow.MaxRows && scorer.TryScoreRowsOnHost(buffer.AsSpan(0, length * width), length) is { } onHost)
            {
                for (int r = 0; r < length; r++)
                {
                    scores[start + r] = far[r] ? double.PositiveInfinity : onHost[r];
                }

                continue;
            }

            for (int pad = length; pad < chunkSize; pad++)
            {
                buffer.AsSpan((length - 1) * width, width).CopyTo(buffer.AsSpan(pad * width, width));
            }

            using var scope = NewDisposeScope();
            device ??= scorer.Flow.parameters().FirstOrDefault()?.device ?? CPU;
            var chunk = tensor(buffer, [chunkSize, width]).to(device);
            // The rows were checked (shape, finite) by EmbeddingRows and their range above: the scorer reads neither again.
            var chunkScores = scorer.ScoreFeatures(chunk, Source, parameterName, checkedByCaller: true);
            for (int r = 0; r < length; r++)
            {
                scores[start + r] = far[r] ? double.PositiveInfinity : chunkScores[r];
            }
        }

        return scores;
    }

    private static bool IsFar(ReadOnlySpan<float> row, IReadOnlyList<double> mean, IReadOnlyList<double> deviation)
    {
        for (int j = 0; j < row.Length; j++)
        {
            if (!(Math.Abs((row[j] - mean[j]) / deviation[j]) <= MaxEvaluatedDeviation))
            {
                return true;
            }
        }

        return false;
    }

    private OodPrediction[] Verdicts(double[] scores)
    {
        var predictions = new OodPrediction[scores.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            // The scorer checked every score for NaN (FlowEvaluation.CheckFinite); +∞ for far rows.
            predictions[i] = Detector.PredictChecked(scores[i]);
        }

        return predictions;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
}
