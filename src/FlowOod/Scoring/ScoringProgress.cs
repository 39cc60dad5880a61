using System;
using System.Threading;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>A progress report of batch scoring (<see cref="ScoringProgressExtensions.Score"/>, <c>OodDetector.Calibrate</c>).</summary>
/// <param name="Done">Examples scored so far, 0 … <paramref name="Total"/>, non-decreasing; the last report has Done = Total.</param>
/// <param name="Total">Examples in the batch.</param>
public sealed record ScoringProgress(long Done, long Total);

/// <summary>Batch scoring with progress, for any <see cref="IOodScorer"/> (the interface itself is unchanged).</summary>
public static class ScoringProgressExtensions
{
    /// <summary>The examples per slice for scorers that are not a <see cref="FlowScorer"/>.</summary>
    public const int DefaultSliceSize = 256;

    /// <summary>
    /// <see cref="IOodScorer.Score"/> of <paramref name="batch"/> <c>[N, ...]</c>, one slice at a time, reporting after each
    /// slice. A <see cref="FlowScorer"/> is sliced at a multiple of its <see cref="FlowScorer.ChunkSize"/> (its chunks
    /// are unchanged, so the scores equal <c>Score(batch)</c> bit for bit); other scorers in slices of
    /// <see cref="DefaultSliceSize"/> examples (FlowOod's score each example independently of its batch).
    /// </summary>
    /// <param name="scorer">The scorer.</param>
    /// <param name="batch">The batch <c>[N, ...]</c> the scorer expects, N ≥ 1.</param>
    /// <param name="progress">Receives <see cref="ScoringProgress"/>(done, N) after each slice; null: one plain <c>Score</c> call.</param>
    /// <param name="cancellationToken">Checked before every slice.</param>
    /// <returns>N scores in batch order.</returns>
    /// <exception cref="ArgumentException">A scalar or empty batch, or what the scorer's <c>Score</c> throws.</exception>
    /// <exception cref="InvalidOperationException">The scorer returned the wrong number of scores for a slice.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static double[] Score(this IOodScorer scorer, Tensor batch, IProgress<ScoringProgress>? progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Dimensions == 0 || batch.size(0) == 0)
        {
            throw new ArgumentException($"Expected a batch [N, ...] with N ≥ 1, got shape {Shapes.Format(batch.Sizes())}.", nameof(batch));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var total = batch.size(0);
        if (progress is null)
        {
            return scorer.Score(batch);
        }

        var slice = scorer is FlowScorer flowScorer ? SliceOf(flowScorer.ChunkSize) : DefaultSliceSize;
        var scores = new double[total];
        progress.Report(new ScoringProgress(0, total));
        for (long start = 0; start < total; start += slice)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var length = Math.Min(slice, total - start);
            using var piece = batch.narrow(0, start, length);
            var part = scorer.Score(piece);
            if (part is null || part.Length != length)
            {
                throw new InvalidOperationException($"{scorer.Name} returned {part?.Length ?? 0} scores for a slice of {length} examples; expected one per example.");
            }

            part.CopyTo(scores, start);
            progress.Report(new ScoringProgress(start + length, total));
        }

        return scores;
    }

    // The largest multiple of the chunk size not above DefaultSliceSize (at least one chunk).
    private static long SliceOf(int chunkSize) => Math.Max(1, DefaultSliceSize / chunkSize) * (long)chunkSize;
}
