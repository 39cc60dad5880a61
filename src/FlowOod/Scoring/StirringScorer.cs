using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// "Stirring" and "shaking" (Umapathi et al., <i>Shaken, and Stirred: Long-Range Dependencies Enable Robust Outlier
/// Detection with PixelCNN++</i>, IJCAI 2023) on a flow, with their median − 3·MAD correction: how much the likelihood
/// of an image drops when its pixels are permuted, with no second model. In nats per image; <b>higher = more OOD</b>.
/// </summary>
/// <remarks>
/// <para><b>Score.</b> With ℓ(x) = log p(x) in nats and T running over the K transforms of <see cref="Transforms"/>
/// (<see cref="StirringTransforms"/>: K = 7 symmetries of a square image, 3 when H ≠ W; K = 9 quadrant derangements),
/// the paper's statistic is S(x) = Σ_T [ℓ(x) − ℓ(T(x))], higher = in-distribution. This scorer returns its negation,
/// s(x) = −S(x) = Σ_T [ℓ(T(x)) − ℓ(x)] (nats, summed over the K transforms, not averaged).
/// A flow that learned the in-distribution images' global structure gives a permuted in-distribution image a much
/// lower likelihood (S ≫ 0, s ≪ 0); a likelihood driven by local pixel statistics, as on most OOD inputs, barely moves
/// (s ≈ 0). An image invariant under every T (a constant image) scores exactly 0.</para>
/// <para><b>Correction</b> (on by default; <see cref="ConditionalCorrection"/>). <see cref="Fit"/> computes, over the
/// log-likelihoods ℓ₁ … ℓₙ of held-out in-distribution images, m = median(ℓ) (the mean of the two middle values when n
/// is even) and MAD = median |ℓᵢ − m|, and the threshold τ = m − 3 · MAD / Φ⁻¹(3/4), Φ⁻¹(3/4) = 0.6744897501960817
/// (so MAD/Φ⁻¹(3/4) ≈ 1.4826 · MAD estimates the standard deviation of normal data). An input with ℓ(x) &lt; τ (a
/// likelihood more than three robust standard deviations below the typical in-distribution one) is flagged and scores
/// the constant <see cref="FlaggedScore"/> = 10¹⁰ instead of s(x): more OOD than any unflagged input, and tied with
/// every other flagged input. This is what the authors' code does (their stirring_ll.py and shaking_ll.py: threshold
/// = np.median(train_ll) − 3·scipy.stats.median_abs_deviation(train_ll, scale='normal'), then the stirred score of
/// inputs below it set to −1e10 in their orientation, higher = in-distribution); their assignment line indexes the
/// result dictionary instead of the dataset's array, so it cannot run as written, and we implement what it evidently
/// means. Differences, on purpose: their ℓ is PixelCNN++'s discrete log-likelihood of the <i>training</i> images;
/// here ℓ is the flow's log-density and m, MAD are fitted on the images passed to <see cref="Fit"/>, which should be
/// held-out in-distribution images (a flow's training images have optimistically high likelihoods, which would move τ
/// up and flag in-distribution inputs).</para>
/// <para><b>Cost.</b> K + 1 flow evaluations per image (8 for stirring a square image, 10 for shaking), each in chunks
/// of <see cref="FlowScorer.ChunkSize"/> images; <see cref="Fit"/> costs one evaluation per held-out image. Memory is
/// that of one chunk of one evaluation plus one permuted copy of the chunk.</para>
/// <para><b>Noise.</b> Every evaluation uses <see cref="FlowScorer.Noise"/>. With the default bin centres (or content-
/// seeded noise) ℓ(T(x)) is exactly ℓ(x) when T(x) = x; with <see cref="ScoringNoise.Random"/> the K + 1 evaluations
/// draw independent noise and s(x) is noisy. Immutable and thread-safe; the flow is never modified by scoring.</para>
/// </remarks>
[ComponentName("Stirring")]
public sealed class StirringScorer : FlowScorer, IComponent<StirringScorer>
{
    /// <summary>The score of an input flagged by the correction (log p(x) below <see cref="Threshold"/>): 10¹⁰ nats.</summary>
    public const double FlaggedScore = 1e10;

    /// <summary>The multiple of the robust standard deviation below the median at which inputs are flagged: 3.</summary>
    public const double MadMultiplier = 3;

    /// <summary>Φ⁻¹(3/4), the third quartile of the standard normal: MAD / Φ⁻¹(3/4) estimates σ for normal data (scipy's scale='normal').</summary>
    public const double NormalThirdQuartile = 0.6744897501960817;

    private readonly Func<Tensor, Tensor>[] permutations;

    /// <summary>Creates the scorer from its fitted numbers (e.g. when reloading a saved scorer).</summary>
    /// <param name="flow">The trained flow on images <c>[..., H, W]</c>.</param>
    /// <param name="median">m, the median of log p over held-out in-distribution images, in nats; finite.</param>
    /// <param name="medianAbsoluteDeviation">MAD = median |log p − m| over the same images, in nats; finite, ≥ 0.</param>
    /// <param name="transforms">The permutations compared with (default <see cref="StirringTransforms.Symmetries"/>).</param>
    /// <param name="conditionalCorrection">Whether inputs with log p(x) &lt; <see cref="Threshold"/> score <see cref="FlaggedScore"/> (default true).</param>
    /// <param name="chunkSize">Images evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="flow"/> is null.</exception>
    /// <exception cref="ArgumentException">The flow's events are not images the transforms can act on (rank below 2; a 1×1
    /// image; odd H or W for <see cref="StirringTransforms.QuadrantDerangements"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A fitted number is not finite, the MAD is negative, the threshold they
    /// give is not finite, <paramref name="transforms"/> is not defined or <paramref name="chunkSize"/> is not positive.</exception>
    public StirringScorer(
        NormalizingFlow flow,
        double median,
        double medianAbsoluteDeviation,
        StirringTransforms transforms = StirringTransforms.Symmetries,
        bool conditionalCorrection = true,
        int chunkSize = 256,
        ScoringNoise? noise = null,
        bool ownsFlow = false)
        : base([CheckFlow(flow, transforms)], chunkSize, noise, ownsFlow)
    {
        if (!double.IsFinite(median))
        {
            throw new ArgumentOutOfRangeException(nameof(median), median, $"The median log-likelihood must be finite, got {median}.");
        }

        if (!double.IsFinite(medianAbsoluteDeviation) || medianAbsoluteDeviation < 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(medianAbsoluteDeviation), medianAbsoluteDeviation, $"The median absolute deviation must be finite and non-negative, got {medianAbsoluteDeviation}.");
        }

        var threshold = ThresholdOf(median, medianAbsoluteDeviation);
        if (!double.IsFinite(threshold))
        {
            throw new ArgumentOutOfRangeException(
                nameof(medianAbsoluteDeviation), medianAbsoluteDeviation, $"The threshold m − 3·MAD/Φ⁻¹(3/4) = {threshold} is not finite.");
        }

        Flow = flow;
        Median = median;
        MedianAbsoluteDeviation = medianAbsoluteDeviation;
        Threshold = threshold;
        Transforms = transforms;
        ConditionalCorrection = conditionalCorrection;
        permutations = ImagePermutations.For(transforms, flow.EventShape);
    }

    /// <summary>The flow.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>The permutations T compared with.</summary>
    public StirringTransforms Transforms { get; }

    /// <summary>K, the number of transforms T applied to each image (7 or 3 symmetries, 9 derangements).</summary>
    public int TransformCount => permutations.Length;

    /// <summary>Whether inputs with log p(x) &lt; <see cref="Threshold"/> score <see cref="FlaggedScore"/>.</summary>
    public bool ConditionalCorrection { get; }

    /// <summary>m, the median of log p(x) in nats over the held-out in-distribution images of <see cref="Fit"/>.</summary>
    public double Median { get; }

    /// <summary>MAD, the median of |log p(x) − m| in nats over the same images (unscaled).</summary>
    public double MedianAbsoluteDeviation { get; }

    /// <summary>τ = m − 3 · MAD / Φ⁻¹(3/4) in nats: the correction flags inputs with log p(x) &lt; τ.</summary>
    public double Threshold { get; }

    /// <inheritdoc/>
    public override string Name =>
        $"{(Transforms == StirringTransforms.Symmetries ? "Stirring" : "Shaking")} Σ_T log p(Tx) − log p(x) "
        + (ConditionalCorrection ? "(nats, median − 3·MAD correction)" : "(nats)");

    /// <summary>
    /// Fits the correction: m and MAD of log p(x) (nats) over <paramref name="heldOutInDistribution"/>, in-distribution
    /// images the flow was not trained on, evaluated with <paramref name="noise"/>. Nothing else is fitted.
    /// </summary>
    /// <param name="flow">The trained flow on images <c>[..., H, W]</c>.</param>
    /// <param name="heldOutInDistribution">Held-out in-distribution images <c>[N, eventShape...]</c>, N ≥ 2.</param>
    /// <param name="transforms">The permutations compared with (default <see cref="StirringTransforms.Symmetries"/>).</param>
    /// <param name="conditionalCorrection">Whether the scorer applies the correction (default true); m and MAD are fitted either way.</param>
    /// <param name="chunkSize">Images evaluated at once. Default 256.</param>
    /// <param name="noise">Dequantization noise for fitting and scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <returns>The fitted scorer; the flow stays the caller's.</returns>
    /// <exception cref="ArgumentException">The flow's events are not images the transforms can act on, or the data is
    /// invalid for the flow or has fewer than 2 examples.</exception>
    /// <exception cref="InvalidOperationException">The flow gives a held-out image a NaN or infinite log-likelihood.</exception>
    public static StirringScorer Fit(
        NormalizingFlow flow,
        Tensor heldOutInDistribution,
        StirringTransforms transforms = StirringTransforms.Symmetries,
        bool conditionalCorrection = true,
        int chunkSize = 256,
        ScoringNoise? noise = null)
    {
        CheckFlow(flow, transforms);
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        noise ??= ScoringNoise.BinCentres;
        FlowEvaluation.PrepareForScoring(flow);
        flow.ValidateInput(heldOutInDistribution, nameof(heldOutInDistribution));
        if (heldOutInDistribution.size(0) < 2)
        {
            throw new ArgumentException(
                $"Fitting needs at least 2 held-out in-distribution images, got {heldOutInDistribution.size(0)}.", nameof(heldOutInDistribution));
        }

        var logProb = FlowEvaluation.LogProbUnchecked(flow, heldOutInDistribution, chunkSize, noise);
        for (int i = 0; i < logProb.Length; i++)
        {
            if (!double.IsFinite(logProb[i]))
            {
                throw new InvalidOperationException(
                    $"The flow gives held-out image {i} the log-likelihood {logProb[i]}; the median and MAD need finite values.");
            }
        }

        var (median, mad) = MedianAndMad(logProb);
        return new StirringScorer(flow, median, mad, transforms, conditionalCorrection, chunkSize, noise);
    }

    /// <summary>
    /// One score per image of <paramref name="batch"/>: s(x) = Σ_T [log p(T(x)) − log p(x)] in nats, or
    /// <see cref="FlaggedScore"/> when the correction is on and log p(x) &lt; <see cref="Threshold"/>; higher = more OOD.
    /// </summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>N scores in nats. An image of zero density (log p(x) = −∞) scores +∞ without the correction.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    /// <exception cref="InvalidOperationException">A score came out NaN, or the flow is back in training mode.</exception>
    public override double[] Score(Tensor batch)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(batch);
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, Flow);
        var (original, permuted) = LogProbs(batch);
        var scores = new double[original.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            if (ConditionalCorrection && original[i] < Threshold)
            {
                scores[i] = FlaggedScore;
                continue;
            }

            if (double.IsNegativeInfinity(original[i]))
            {
                scores[i] = double.PositiveInfinity;
                continue;
            }

            var sum = 0.0;
            foreach (var logProb in permuted)
            {
                sum += logProb[i] - original[i];
            }

            scores[i] = sum;
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the flow, the transforms, the correction switch, m, MAD, chunk size and noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        writer.WriteEnum("transforms", Transforms);
        writer.WriteBool("conditionalCorrection", ConditionalCorrection);
        writer.WriteDouble("median", Median);
        writer.WriteDouble("medianAbsoluteDeviation", MedianAbsoluteDeviation);
        WriteEvaluationSettings(writer);
    }

    /// <summary>
    /// Rebuilds a saved scorer; it owns the flow it reads. A median that is not finite, a negative or non-finite MAD, a
    /// pair whose threshold overflows, or transforms that cannot act on the stored flow's events are refused naming the field.
    /// </summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or invalid.</exception>
    public static StirringScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var transforms = reader.ReadEnum<StirringTransforms>("transforms");
        var correction = reader.ReadBool("conditionalCorrection");
        var median = reader.ReadDouble("median", double.MinValue, double.MaxValue);
        var mad = reader.ReadDouble("medianAbsoluteDeviation", 0, double.MaxValue);
        if (!double.IsFinite(ThresholdOf(median, mad)))
        {
            throw reader.Invalid("medianAbsoluteDeviation", $"gives with the median {median} the threshold m − 3·MAD/Φ⁻¹(3/4) = {ThresholdOf(median, mad)}, which is not finite");
        }

        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        var flow = reader.ReadFlow("flow");
        if (ImagePermutations.Problem(transforms, flow.EventShape) is { } problem)
        {
            throw reader.Invalid("transforms", $"\"{transforms}\" does not fit the stored flow: {problem}");
        }

        return new StirringScorer(flow, median, mad, transforms, correction, chunkSize, noise, ownsFlow: true);
    }

    /// <summary>The median (mean of the two middle values for an even count) and the unscaled median absolute deviation.</summary>
    internal static (double Median, double Mad) MedianAndMad(IReadOnlyList<double> values)
    {
        var median = MedianOf([.. values]);
        return (median, MedianOf(values.Select(v => Math.Abs(v - median)).ToArray()));
    }

    private static double MedianOf(double[] values)
    {
        Array.Sort(values);
        var half = values.Length / 2;
        return values.Length % 2 == 1 ? values[half] : (values[half - 1] + values[half]) / 2;
    }

    private static double ThresholdOf(double median, double mad) => median - (MadMultiplier * (mad / NormalThirdQuartile));

    private static NormalizingFlow CheckFlow(NormalizingFlow flow, StirringTransforms transforms)
    {
        ArgumentNullException.ThrowIfNull(flow);
        if (!Enum.IsDefined(transforms))
        {
            throw new ArgumentOutOfRangeException(nameof(transforms), transforms, "Unknown stirring transforms.");
        }

        if (ImagePermutations.Problem(transforms, flow.EventShape) is { } problem)
        {
            throw new ArgumentException($"{char.ToUpperInvariant(problem[0])}{problem[1..]}.", nameof(flow));
        }

        return flow;
    }

    // log p(x) and log p(T(x)) for every T, chunk by chunk: each chunk is moved to the flow's device once and permuted
    // there; one noise source spans the call, as in FlowEvaluation.
    private (double[] Original, double[][] Permuted) LogProbs(Tensor batch)
    {
        FlowEvaluation.EnsureEvaluationMode(Flow);
        var count = batch.size(0);
        var original = new double[count];
        var permuted = permutations.Select(_ => new double[count]).ToArray();
        var device = Flow.parameters().Select(p => p.device).FirstOrDefault();
        using var inference = inference_mode();
        using var source = Noise.Open();
        for (long start = 0; start < count; start += ChunkSize)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(ChunkSize, count - start);
            var chunk = batch.narrow(0, start, length);
            if (device is not null && (chunk.device_type != device.type || chunk.device_index != device.index))
            {
                chunk = chunk.to(device);
            }

            // The same memory layout as the permuted copies, so that ℓ(T(x)) = ℓ(x) bit for bit when T(x) = x.
            chunk = chunk.contiguous();

            Copy(Flow.LogProbUnchecked(chunk, source), original, start);
            for (int t = 0; t < permutations.Length; t++)
            {
                using var inner = NewDisposeScope();
                Copy(Flow.LogProbUnchecked(permutations[t](chunk), source), permuted[t], start);
            }
        }

        return (original, permuted);
    }

    private static void Copy(Tensor logProb, double[] into, long start) =>
        logProb.to_type(ScalarType.Float64).cpu().data<double>().CopyTo(into, (int)start);
}
