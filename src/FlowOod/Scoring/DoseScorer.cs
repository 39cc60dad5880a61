using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// DoSE, the density-of-states estimator of Morningstar et al. (2021), KDE variant: how typical the flow's own summary
/// statistics of an input are among those of held-out in-distribution data. score(x) = −Σ_j log KDE_j(t_j(x)); higher =
/// more OOD.
/// </summary>
/// <remarks>
/// <para><b>Statistics.</b> One forward pass gives S numbers t(x) per example (<see cref="StatisticNames"/>): log p(x);
/// log p_Z(z) of the whole latent; the log-determinant of each top-level step of the flow's transform (its
/// <c>Chain</c>), not counting what happens inside factor-outs; and for each <c>FactorOut</c> (one per extra scale of a
/// multi-scale flow) the log-determinant of the bijectors inside it (that scale's own), and the standard normal
/// log-density log 𝒩(r; 0, I) = −½‖r‖² − (d/2)·log 2π of the d entries r it sets aside. The statistics satisfy
/// log p(x) = log p_Z(z) + Σ (log-determinant statistics). For a <c>RealNvp</c> or <c>Glow</c> flow with L scales,
/// S = 5 + 2(L − 1).</para>
/// <para><b>Fit.</b> <see cref="Fit"/> computes the statistics of held-out in-distribution images (not the flow's
/// training data, on which its statistics are optimistic) and keeps, per statistic, the sorted values, or when there are
/// more than <c>maxSamplesPerStatistic</c> (default 2,000) examples that many evenly spaced order statistics. Each
/// statistic is standardised, u_j = (t_j − μ_j)/s_j with μ_j its mean and s_j = max(σ_j, 10⁻⁶·max(1, |μ_j|)) its
/// standard deviation with a floor (a constant statistic, such as a volume-preserving step's 0, cannot give s_j = 0),
/// and gets its own one-dimensional Gaussian KDE with Silverman's bandwidth h_j = 0.9·min(σ_j/s_j, IQR(u_j)/1.34)·m^(−1/5)
/// (m samples; the spread alone when the IQR is 0, and 1 when both are):</para>
/// <para>log KDE_j(u) = log Σ_i exp(−½((u − u_{j,i})/h_j)²) − log(m·h_j·√(2π)),
/// score(x) = −Σ_j log KDE_j(u_j(x)).</para>
/// <para>The paper's KDE variant treats the statistics as independent (a product of one-dimensional KDEs, here its
/// negative log); standardising each statistic makes one bandwidth rule fit statistics of any scale. The sums are
/// log-sum-exps, so an input far from the fit set gets a large finite score (≈ ½(distance/h_j)² per far statistic),
/// never NaN or ∞ (an overflow saturates at <see cref="double.MaxValue"/>). A statistic that comes out NaN or infinite
/// (a flow that gives an input zero density, or corrupt parameters) is an <see cref="InvalidOperationException"/>.</para>
/// <para><b>Cost.</b> One pass of the flow per chunk of <see cref="FlowScorer.ChunkSize"/> examples (the cost of the
/// likelihood score) plus S·m kernel evaluations per example on the CPU. The pass runs in evaluation mode under
/// inference mode with the dequantization noise of <see cref="FlowScorer.Noise"/> and writes nothing on the flow, so
/// any number of threads may score at once.</para>
/// </remarks>
[ComponentName("Dose")]
public sealed class DoseScorer : FlowScorer, IComponent<DoseScorer>
{
    /// <summary>The default cap on the fitted samples kept per statistic.</summary>
    public const int DefaultMaxSamplesPerStatistic = 2000;

    private readonly FlowStatistics layout;
    private readonly IndependentKde kde;
    private readonly double[][] fitted;

    /// <summary>Creates the scorer from its state (e.g. when reloading a saved scorer).</summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="fittedStatistics">Per statistic (in the order of <see cref="StatisticNames"/>), its values on held-out
    /// in-distribution data: one list per statistic of the flow, all of the same length m ≥ 2, all finite.</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="flow"/> or <paramref name="fittedStatistics"/> is null.</exception>
    /// <exception cref="ArgumentException">The number of lists is not the flow's number of statistics, or the lists are
    /// of different lengths, shorter than 2, or hold a value that is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is not positive.</exception>
    public DoseScorer(
        NormalizingFlow flow,
        IReadOnlyList<IReadOnlyList<double>> fittedStatistics,
        int chunkSize = 256,
        ScoringNoise? noise = null,
        bool ownsFlow = false)
        : base([flow ?? throw new ArgumentNullException(nameof(flow))], chunkSize, noise, ownsFlow)
    {
        ArgumentNullException.ThrowIfNull(fittedStatistics);
        layout = FlowStatistics.Of(flow);
        if (fittedStatistics.Count != layout.Count)
        {
            throw new ArgumentException(
                $"This flow has {layout.Count} statistics; got fitted samples of {fittedStatistics.Count}.", nameof(fittedStatistics));
        }

        kde = new IndependentKde(fittedStatistics, nameof(fittedStatistics));
        fitted = fittedStatistics.Select(s => s.ToArray()).ToArray();
        Flow = flow;
    }

    /// <summary>The flow.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>The fitted density (for the ONNX export).</summary>
    internal IndependentKde Kde => kde;

    /// <summary>The statistics' layout (for the ONNX export).</summary>
    internal FlowStatistics Layout => layout;

    /// <summary>What each of the S statistics is, in the order of <see cref="Statistics"/> and <see cref="FittedStatistics"/>.</summary>
    public IReadOnlyList<string> StatisticNames => layout.Names;

    /// <summary>Per statistic, the fitted samples the KDE is built on (held-out in-distribution values).</summary>
    public IReadOnlyList<IReadOnlyList<double>> FittedStatistics => fitted;

    /// <inheritdoc/>
    public override string Name => "DoSE −Σ log KDE(statistics)";

    /// <summary>
    /// Fits the scorer: the statistics of <paramref name="heldOutInDistribution"/> (data the flow was not trained on),
    /// evaluated with <paramref name="noise"/>, kept per statistic (at most <paramref name="maxSamplesPerStatistic"/>
    /// evenly spaced order statistics).
    /// </summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="heldOutInDistribution">Held-out in-distribution data <c>[N, eventShape...]</c>, N ≥ 2.</param>
    /// <param name="chunkSize">Examples evaluated at once. Default 256.</param>
    /// <param name="noise">Dequantization noise for fitting and scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="maxSamplesPerStatistic">The cap on the samples kept per statistic (bounds the file and the scoring
    /// cost, S·m kernels per example); at least 2. Default <see cref="DefaultMaxSamplesPerStatistic"/>.</param>
    /// <returns>The fitted scorer; the flow stays the caller's.</returns>
    /// <exception cref="ArgumentException">The data is invalid for the flow or has fewer than 2 examples.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is not positive or <paramref name="maxSamplesPerStatistic"/> is below 2.</exception>
    /// <exception cref="InvalidOperationException">A statistic of a held-out example is NaN or infinite.</exception>
    public static DoseScorer Fit(
        NormalizingFlow flow,
        Tensor heldOutInDistribution,
        int chunkSize = 256,
        ScoringNoise? noise = null,
        int maxSamplesPerStatistic = DefaultMaxSamplesPerStatistic)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamplesPerStatistic, 2);
        noise ??= ScoringNoise.BinCentres;
        FlowEvaluation.PrepareForScoring(flow);
        flow.ValidateInput(heldOutInDistribution, nameof(heldOutInDistribution));
        var rows = heldOutInDistribution.size(0);
        if (rows < 2)
        {
            throw new ArgumentException(
                $"Fitting needs at least 2 held-out in-distribution examples, got {rows}.", nameof(heldOutInDistribution));
        }

        var layout = FlowStatistics.Of(flow);
        var statistics = CheckFinite(layout, layout.Compute(heldOutInDistribution, chunkSize, noise), "held-out example");
        var kept = IndependentKde.Keep(statistics, (int)rows, layout.Count, maxSamplesPerStatistic);
        return new DoseScorer(flow, kept, chunkSize, noise);
    }

    /// <summary>The S statistics of each example of <paramref name="batch"/> (see <see cref="StatisticNames"/>).</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>N arrays of S values in nats.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    /// <exception cref="InvalidOperationException">A statistic is NaN or infinite.</exception>
    public double[][] Statistics(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var rowMajor = StatisticsOf(batch, null, nameof(batch));
        var s = layout.Count;
        return Enumerable.Range(0, rowMajor.Length / s).Select(n => rowMajor.AsSpan(n * s, s).ToArray()).ToArray();
    }

    /// <summary>One score −Σ_j log KDE_j(u_j(x)) per example of <paramref name="batch"/>; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>N finite scores.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    /// <exception cref="InvalidOperationException">A statistic of an example is NaN or infinite.</exception>
    public override double[] Score(Tensor batch)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(batch);
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        var rowMajor = StatisticsOf(batch, values, parameterName);
        var s = layout.Count;
        var scores = new double[rowMajor.Length / s];
        for (int n = 0; n < scores.Length; n++)
        {
            scores[n] = kde.NegativeLogDensity(rowMajor.AsSpan(n * s, s));
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the flow, the number of statistics, the samples per statistic, the samples, chunk size and noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        writer.WriteInt("statistics", fitted.Length);
        writer.WriteInt("samplesPerStatistic", fitted[0].Length);
        writer.WriteDoubles("samples", fitted.SelectMany(s => s).ToArray());
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flow it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or damaged: counts out of range, a number of
    /// statistics that is not the stored flow's, samples of the wrong length or not finite.</exception>
    public static DoseScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var statistics = reader.ReadInt("statistics", 2, ComponentLimits.MaxWidth);
        var perStatistic = reader.ReadInt("samplesPerStatistic", 2, ComponentLimits.MaxCount / statistics);
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        var flow = reader.ReadFlow("flow");
        var expected = FlowStatistics.Of(flow).Count;
        if (expected != statistics)
        {
            throw reader.Invalid("statistics", $"is {statistics}, but the stored flow has {expected} statistics");
        }

        var samples = reader.ReadDoubles("samples", statistics * perStatistic);
        var split = Enumerable.Range(0, statistics).Select(j => samples.AsSpan(j * perStatistic, perStatistic).ToArray()).ToArray();
        return new DoseScorer(flow, split, chunkSize, noise, ownsFlow: true);
    }

    private double[] StatisticsOf(Tensor batch, InputValues? values, string parameterName)
    {
        ThrowIfDisposed();
        FlowEvaluation.EnsureEvaluationMode(Flow);
        ValidateInput(batch, values, parameterName, Flow);
        return CheckFinite(layout, layout.Compute(batch, ChunkSize, Noise), "example");
    }

    private static double[] CheckFinite(FlowStatistics layout, double[] rowMajor, string what)
    {
        for (int i = 0; i < rowMajor.Length; i++)
        {
            if (!double.IsFinite(rowMajor[i]))
            {
                throw new InvalidOperationException(
                    $"The flow gives {what} {i / layout.Count} the statistic '{layout.Names[i % layout.Count]}' = {rowMajor[i]}; DoSE needs finite "
                    + "statistics (the flow gives the input zero density, or its parameters are corrupt).");
            }
        }

        return rowMajor;
    }
}
