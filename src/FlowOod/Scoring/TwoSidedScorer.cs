using System;
using System.Linq;
using FlowOod.Components;
using MathNet.Numerics.Statistics;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Makes any scorer two-sided: S₂(x) = |S(x) − m| / σ, where m is the median and σ the robust spread
/// 1.4826 · median |S − m| of the inner scores on held-out in-distribution data. <b>Higher = more OOD</b>: an input is
/// flagged when its inner score is atypical in either direction.
/// </summary>
/// <remarks>
/// <para>One-sided scores assume the OOD side: a likelihood ratio log p_bg − log p_fg, for instance, is high for inputs the
/// background explains better than the foreground (MNIST digits), but an input that is smoother than the training images
/// (a blurred garment) makes it <i>lower</i> than any training image, and a one-sided test calls it the most
/// in-distribution input of all. The two-sided score is the typicality idea of Nalisnick et al. (2019), which
/// <see cref="TypicalityScorer"/> applies to the NLL, applied to any score: in-distribution inputs sit in the middle of
/// the fitted distribution. Median and median absolute deviation are used so that a few outliers in the held-out data do
/// not move the centre; σ only rescales (AUROC does not depend on it) and makes S₂ read as a robust z-score.</para>
/// <para>Immutable and thread-safe when the inner scorer is. Ownership: the inner scorer stays the caller's unless
/// <c>ownsInner</c> is true; a scorer read from a model file owns its inner scorer.</para>
/// </remarks>
[ComponentName("TwoSided")]
public sealed class TwoSidedScorer : IOodScorer, IComponent<TwoSidedScorer>
{
    private bool disposed;

    /// <summary>Creates the scorer from a fitted centre and spread.</summary>
    /// <param name="inner">The scorer whose scores are made two-sided.</param>
    /// <param name="center">m, the typical inner score of in-distribution data (finite).</param>
    /// <param name="scale">σ > 0, the spread of the inner scores (finite).</param>
    /// <param name="ownsInner">Whether disposing this scorer disposes <paramref name="inner"/> (default false).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="center"/> is not finite or <paramref name="scale"/> is not finite and positive.</exception>
    public TwoSidedScorer(IOodScorer inner, double center, double scale, bool ownsInner = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!double.IsFinite(center))
        {
            throw new ArgumentOutOfRangeException(nameof(center), center, "The centre must be finite.");
        }

        if (!double.IsFinite(scale) || scale <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale must be finite and positive.");
        }

        Inner = inner;
        Center = center;
        Scale = scale;
        OwnsInner = ownsInner;
    }

    /// <summary>The scorer whose scores are made two-sided.</summary>
    public IOodScorer Inner { get; }

    /// <summary>Whether disposing this scorer disposes <see cref="Inner"/>.</summary>
    public bool OwnsInner { get; }

    /// <summary>m, the median inner score of the held-out in-distribution data.</summary>
    public double Center { get; }

    /// <summary>σ, 1.4826 × the median absolute deviation of those scores (the standard deviation where that is 0).</summary>
    public double Scale { get; }

    /// <inheritdoc/>
    public string Name => $"two-sided {Inner.Name}";

    /// <summary>
    /// Fits m and σ on the inner scores of <paramref name="heldOutInDistribution"/> (in-distribution examples the inner
    /// scorer was not trained on).
    /// </summary>
    /// <param name="inner">The scorer to make two-sided.</param>
    /// <param name="heldOutInDistribution"><c>[N, ...]</c>, N ≥ 2, valid input of <paramref name="inner"/>.</param>
    /// <param name="ownsInner">Whether the new scorer disposes <paramref name="inner"/> (default false).</param>
    /// <returns>The fitted scorer.</returns>
    /// <exception cref="ArgumentException">Fewer than 2 examples, or input the inner scorer rejects.</exception>
    /// <exception cref="InvalidOperationException">The held-out scores are not finite, or all equal.</exception>
    public static TwoSidedScorer Fit(IOodScorer inner, Tensor heldOutInDistribution, bool ownsInner = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        if (heldOutInDistribution.dim() == 0 || heldOutInDistribution.size(0) < 2)
        {
            throw new ArgumentException(
                $"Fitting a two-sided scorer needs at least 2 held-out examples; got shape [{string.Join(", ", heldOutInDistribution.Sizes())}].",
                nameof(heldOutInDistribution));
        }

        var scores = inner.Score(heldOutInDistribution);
        if (scores.Any(s => !double.IsFinite(s)))
        {
            throw new InvalidOperationException($"{inner.Name} gave a held-out in-distribution example a non-finite score; cannot fit a two-sided scorer.");
        }

        var center = scores.Median();
        var scale = 1.4826 * scores.Select(s => Math.Abs(s - center)).Median();
        if (!(scale > 0))
        {
            scale = scores.StandardDeviation();
        }

        if (!(scale > 0))
        {
            throw new InvalidOperationException($"{inner.Name} gave every held-out example the same score {center}; a two-sided scorer needs a spread.");
        }

        return new TwoSidedScorer(inner, center, scale, ownsInner);
    }

    /// <summary>S₂(x) = |S(x) − m| / σ per example of <paramref name="batch"/>; higher = more OOD (+∞ stays +∞).</summary>
    /// <param name="batch">Input of the inner scorer, <c>[N, ...]</c>.</param>
    /// <returns>N non-negative scores.</returns>
    /// <exception cref="ArgumentException">The inner scorer rejects the batch.</exception>
    /// <exception cref="ObjectDisposedException">The scorer has been disposed.</exception>
    public double[] Score(Tensor batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var scores = Inner.Score(batch);
        var result = new double[scores.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            result[i] = Math.Abs(scores[i] - Center) / Scale;
        }

        return result;
    }

    /// <summary>Writes the inner scorer, the centre and the scale.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteComponent("inner", Inner);
        writer.WriteDouble("center", Center);
        writer.WriteDouble("scale", Scale);
    }

    /// <summary>Rebuilds a saved scorer; it owns the inner scorer it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static TwoSidedScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var center = reader.ReadDouble("center", double.MinValue, double.MaxValue);
        var scale = reader.ReadDouble("scale", double.Epsilon, double.MaxValue);
        return new TwoSidedScorer(reader.ReadComponent<IOodScorer>("inner"), center, scale, ownsInner: true);
    }

    /// <summary>Disposes the inner scorer when this scorer owns it. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        if (OwnsInner)
        {
            Inner.Dispose();
        }
    }
}
