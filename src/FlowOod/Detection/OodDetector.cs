using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Threading;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Detection;

/// <summary>
/// An out-of-distribution detector: an <see cref="IOodScorer"/> (higher score = more OOD) plus a threshold calibrated on
/// scores of in-distribution validation data at a target false-positive rate α, with empirical (conformal) p-values.
/// </summary>
/// <remarks>
/// <para>With the n calibration scores c₁ … cₙ (scores of in-distribution validation inputs), the p-value of a score s is
/// p(s) = (1 + #{i : cᵢ ≥ s}) / (n + 1), in [1/(n + 1), 1]: the rank of s among the calibration scores, counted from the
/// top, with ties counted against the input (conservatively). An input is flagged out-of-distribution when p(s) ≤ α.</para>
/// <para>Equivalently, with k the largest integer such that (1 + k)/(n + 1) ≤ α (k = ⌊α(n + 1)⌋ − 1), an input is flagged
/// when s &gt; <see cref="Threshold"/> = c₍ₙ₋ₖ₎, the (k + 1)-th largest calibration score. The two rules give the same
/// verdict for every score, ties included: a score equal to the threshold is in-distribution.</para>
/// <para>Guarantee: if the calibration inputs and a new in-distribution input are exchangeable (e.g. drawn i.i.d. from the
/// same distribution), then P(p ≤ α) ≤ α, i.e. the false-positive rate, averaged over the draw of the calibration set,
/// is at most α. When ties among scores have probability zero (continuous scores) it equals (k + 1)/(n + 1) =
/// ⌊α(n + 1)⌋/(n + 1) ≥ α − 1/(n + 1); ties only lower it. For one fixed calibration set the false-positive rate is itself
/// random, distributed as Beta(k + 1, n − k) for continuous scores (standard deviation ≈ √(α(1 − α)/n)), so a larger n
/// gives a rate closer to α. The guarantee says nothing about the true-positive rate, which depends on the scorer.</para>
/// <para>Requirements: 0 &lt; α &lt; 1 and α ≥ 1/n, i.e. at least ⌈1/α⌉ calibration scores
/// (<see cref="RequiredCalibrationCount"/>); with fewer, no score could ever be flagged at level α. Calibration scores are
/// kept as managed doubles, sorted ascending.</para>
/// <para>Threads and ownership: a detector is immutable and safe for concurrent calls when its scorer is (every FlowOod
/// scorer is). It follows <see cref="IOodScorer"/>'s ownership rule: with <c>ownsScorer: false</c> (the default) the
/// scorer stays the caller's; a detector loaded from a model file owns its scorer, and disposing it frees the flows.</para>
/// </remarks>
public sealed class OodDetector : IDisposable
{
    private readonly double[] sortedScores;
    private readonly bool ownsScorer;
    private int disposed;

    /// <summary>Creates a detector from its state, e.g. when reloading a saved detector.</summary>
    /// <param name="scorer">The scorer; higher score = more out-of-distribution.</param>
    /// <param name="targetFalsePositiveRate">α, the target false-positive rate on in-distribution data, in (0, 1).</param>
    /// <param name="calibrationScores">The scorer's scores of in-distribution validation inputs, in any order; finite;
    /// at least <see cref="RequiredCalibrationCount"/>(α) of them. Copied.</param>
    /// <param name="ownsScorer">Whether disposing the detector disposes <paramref name="scorer"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α is not in (0, 1).</exception>
    /// <exception cref="ArgumentException">There are no calibration scores, fewer than ⌈1/α⌉, or one is NaN or infinite.</exception>
    public OodDetector(IOodScorer scorer, double targetFalsePositiveRate, IReadOnlyList<double> calibrationScores, bool ownsScorer = false)
        : this(scorer, targetFalsePositiveRate, CopyScores(calibrationScores), "calibration score", ownsScorer)
    {
    }

    private OodDetector(IOodScorer scorer, double targetFalsePositiveRate, double[] calibrationScores, string source, bool ownsScorer)
    {
        this.ownsScorer = ownsScorer;
        ArgumentNullException.ThrowIfNull(scorer);
        CheckRate(targetFalsePositiveRate);
        CheckCount(calibrationScores.Length, targetFalsePositiveRate, nameof(calibrationScores));
        for (int i = 0; i < calibrationScores.Length; i++)
        {
            if (double.IsNaN(calibrationScores[i]))
            {
                throw new ArgumentException($"The {source} at index {i} is NaN; calibration needs real scores.", nameof(calibrationScores));
            }

            if (double.IsInfinity(calibrationScores[i]))
            {
                throw new ArgumentException(
                    $"The {source} at index {i} is {calibrationScores[i]}; calibration needs finite scores.", nameof(calibrationScores));
            }
        }

        Array.Sort(calibrationScores);
        sortedScores = calibrationScores;
        Scorer = scorer;
        TargetFalsePositiveRate = targetFalsePositiveRate;
        CalibrationScores = Array.AsReadOnly(sortedScores);

        // k = the largest count of calibration scores ≥ s that still gives p(s) ≤ α. p is computed by the same expression
        // as PValue, and (1 + m)/(n + 1) is non-decreasing in m in floating point, so "p(s) ≤ α" and "count ≤ k" agree
        // exactly. α ≥ 1/n > 1/(n + 1) = p(count 0) makes k ≥ 0; α < 1 = p(count n) makes k ≤ n − 1.
        var n = calibrationScores.Length;
        var k = (int)Math.Clamp(Math.Floor(targetFalsePositiveRate * (n + 1.0)) - 1, 0, n - 1);
        while (k < n - 1 && PValueOfCount(k + 1, n) <= targetFalsePositiveRate)
        {
            k++;
        }

        while (k > 0 && PValueOfCount(k, n) > targetFalsePositiveRate)
        {
            k--;
        }

        Threshold = sortedScores[n - 1 - k];
    }

    /// <summary>The scorer (higher score = more out-of-distribution).</summary>
    public IOodScorer Scorer { get; }

    /// <summary>α, the target false-positive rate on in-distribution data, in (0, 1).</summary>
    public double TargetFalsePositiveRate { get; }

    /// <summary>The n calibration scores, sorted ascending (a read-only copy), in the scorer's unit.</summary>
    public IReadOnlyList<double> CalibrationScores { get; }

    /// <summary>
    /// The decision threshold, in the scorer's unit: a score strictly above it is flagged out-of-distribution, a score
    /// equal to or below it is not. It is the (k + 1)-th largest calibration score, k = ⌊α(n + 1)⌋ − 1.
    /// </summary>
    public double Threshold { get; }

    /// <summary>
    /// Calibrates a detector: scores <paramref name="inDistributionValidation"/> with <paramref name="scorer"/> and keeps
    /// the scores as calibration scores (see <see cref="OodDetector"/>).
    /// </summary>
    /// <param name="scorer">The scorer; higher score = more out-of-distribution.</param>
    /// <param name="inDistributionValidation">In-distribution inputs not used to train the scorer, <c>[n, ...]</c> as the
    /// scorer expects; n ≥ ⌈1/α⌉.</param>
    /// <param name="targetFalsePositiveRate">α in (0, 1).</param>
    /// <param name="ownsScorer">Whether disposing the detector disposes <paramref name="scorer"/> (default false: it stays the caller's).</param>
    /// <param name="progress">Default null. Receives <see cref="ScoringProgress"/>(done, n) as the validation batch is
    /// scored, slice by slice (<see cref="ScoringProgressExtensions.Score"/>: the same scores as one call), ending at n.</param>
    /// <returns>The calibrated detector.</returns>
    /// <exception cref="ArgumentOutOfRangeException">α is not in (0, 1).</exception>
    /// <exception cref="ArgumentException">The batch has fewer than ⌈1/α⌉ examples (checked before scoring), the scorer
    /// rejects it, or a score is NaN or infinite.</exception>
    public static OodDetector Calibrate(
        IOodScorer scorer, Tensor inDistributionValidation, double targetFalsePositiveRate, bool ownsScorer = false, IProgress<ScoringProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(inDistributionValidation);
        CheckRate(targetFalsePositiveRate);
        if (inDistributionValidation.Dimensions == 0)
        {
            throw new ArgumentException("The validation batch must have a batch dimension, got a scalar tensor.", nameof(inDistributionValidation));
        }

        CheckCount(inDistributionValidation.size(0), targetFalsePositiveRate, nameof(inDistributionValidation));
        var scores = ScoreChecked(scorer, inDistributionValidation, progress);
        return new OodDetector(scorer, targetFalsePositiveRate, scores, $"score from {scorer.Name} of validation example", ownsScorer);
    }

    /// <summary>
    /// The smallest number of calibration scores n with α ≥ 1/n, i.e. ⌈1/α⌉: with fewer, no input could ever be flagged.
    /// </summary>
    /// <param name="targetFalsePositiveRate">α in (0, 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">α is not in (0, 1).</exception>
    public static long RequiredCalibrationCount(double targetFalsePositiveRate)
    {
        CheckRate(targetFalsePositiveRate);
        var count = (long)Math.Ceiling(1 / targetFalsePositiveRate);
        while (targetFalsePositiveRate < 1.0 / count)
        {
            count++;
        }

        while (count > 1 && !(targetFalsePositiveRate < 1.0 / (count - 1)))
        {
            count--;
        }

        return count;
    }

    /// <summary>The empirical p-value (1 + #{calibration scores ≥ <paramref name="score"/>}) / (n + 1), in [1/(n + 1), 1].</summary>
    /// <param name="score">A score of the detector's scorer (higher = more OOD); may be ±∞.</param>
    /// <exception cref="ArgumentException"><paramref name="score"/> is NaN.</exception>
    public double PValue(double score)
    {
        CheckCounters.ScoresChecked(1);
        if (double.IsNaN(score))
        {
            throw new ArgumentException("Cannot compute the p-value of a NaN score.", nameof(score));
        }

        return PValueOfCount(CountAtLeast(score), sortedScores.Length);
    }

    /// <summary>The verdict for one precomputed score of the detector's scorer.</summary>
    /// <param name="score">The score (higher = more OOD); may be ±∞.</param>
    /// <returns>The verdict (p-value ≤ α, equivalently score &gt; <see cref="Threshold"/>), the score and its p-value.</returns>
    /// <exception cref="ArgumentException"><paramref name="score"/> is NaN.</exception>
    public OodPrediction Predict(double score)
    {
        var pValue = PValue(score);
        return new OodPrediction(pValue <= TargetFalsePositiveRate, score, pValue);
    }

    /// <summary><see cref="Predict(double)"/> for a score its producer has checked for NaN already (the gate, the embedding detector).</summary>
    internal OodPrediction PredictChecked(double score)
    {
        var pValue = PValueOfCount(CountAtLeast(score), sortedScores.Length);
        return new OodPrediction(pValue <= TargetFalsePositiveRate, score, pValue);
    }

    /// <summary>Scores <paramref name="batch"/> with <see cref="Scorer"/> and gives one verdict per example.</summary>
    /// <param name="batch"><c>[N, ...]</c> as the scorer expects.</param>
    /// <returns>N predictions, in batch order.</returns>
    /// <exception cref="ArgumentException">The scorer rejects the batch.</exception>
    /// <exception cref="InvalidOperationException">The scorer returned a NaN score or the wrong number of scores.</exception>
    public OodPrediction[] Predict(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var scores = Scorer.Score(batch);
        if (batch.Dimensions == 0 || scores.Length != batch.size(0))
        {
            throw new InvalidOperationException(
                $"{Scorer.Name} returned {scores.Length} scores for a batch of shape {Shapes.Format(batch.Sizes())}; expected one per example.");
        }

        var predictions = new OodPrediction[scores.Length];
        // A flow scorer checked its scores for NaN itself (FlowEvaluation.CheckFinite); any other scorer's are checked here.
        var checkNaN = Scorer is not Scoring.FlowScorer;
        CheckCounters.ScoresChecked(checkNaN ? scores.Length : 0);
        for (int i = 0; i < scores.Length; i++)
        {
            if (checkNaN && double.IsNaN(scores[i]))
            {
                throw new InvalidOperationException($"{Scorer.Name} returned NaN for example {i}.");
            }

            predictions[i] = PredictChecked(scores[i]);
        }

        return predictions;
    }

    private static double PValueOfCount(long countAtLeast, int n) => (1.0 + countAtLeast) / (n + 1.0);

    // #{i : cᵢ ≥ score} = n − (index of the first sorted score ≥ score).
    private int CountAtLeast(double score)
    {
        int low = 0;
        int high = sortedScores.Length;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (sortedScores[middle] < score)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return sortedScores.Length - low;
    }

    /// <summary>Disposes the scorer when the detector owns it; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0 && ownsScorer)
        {
            Scorer.Dispose();
        }
    }

    private static double[] ScoreChecked(IOodScorer scorer, Tensor batch, IProgress<ScoringProgress>? progress = null)
    {
        var scores = progress is null ? scorer.Score(batch) : scorer.Score(batch, progress);
        if (scores is null || scores.Length != batch.size(0))
        {
            throw new InvalidOperationException(
                $"{scorer.Name} returned {scores?.Length ?? 0} scores for a batch of shape {Shapes.Format(batch.Sizes())}; expected one per example.");
        }

        return (double[])scores.Clone();
    }

    private static double[] CopyScores(IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores, "calibrationScores");
        var copy = new double[scores.Count];
        for (int i = 0; i < copy.Length; i++)
        {
            copy[i] = scores[i];
        }

        return copy;
    }

    private static void CheckRate(double targetFalsePositiveRate)
    {
        if (!(targetFalsePositiveRate > 0 && targetFalsePositiveRate < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(targetFalsePositiveRate),
                targetFalsePositiveRate,
                $"The target false-positive rate must lie strictly between 0 and 1, got {targetFalsePositiveRate}.");
        }
    }

    private static void CheckCount(long count, double targetFalsePositiveRate, string parameterName)
    {
        if (count == 0)
        {
            throw new ArgumentException("Calibration needs at least one in-distribution score; got none.", parameterName);
        }

        if (targetFalsePositiveRate < 1.0 / count)
        {
            throw new ArgumentException(
                $"A target false-positive rate of {targetFalsePositiveRate} needs at least {RequiredCalibrationCount(targetFalsePositiveRate)} "
                + $"calibration scores (α ≥ 1/n), got {count}; use more in-distribution validation data or a larger rate.",
                parameterName);
        }
    }
}
