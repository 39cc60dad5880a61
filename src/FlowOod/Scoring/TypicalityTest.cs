using System;
using System.Collections.Generic;
using System.Linq;
using MathNet.Numerics.Statistics;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The typicality test of Nalisnick et al. (2019) for a batch of M inputs: the batch is out-of-distribution when
/// ε̂ = |−(1/M) Σ_m log p(x_m) − Ĥ| exceeds a bootstrapped threshold ε_α^M. All quantities are in nats per example;
/// a larger ε̂ means a less typical batch (more OOD).
/// </summary>
/// <remarks>
/// <para><b>Fitting.</b> Ĥ = mean −log p(x) over one set of held-out in-distribution data. The threshold comes from a
/// second, disjoint set: K bootstrap batches of M examples are drawn with replacement from its negative
/// log-likelihoods (seeded <see cref="Random"/>), each gives ε*_k = |mean − Ĥ|, and ε_α^M is the (1 − α) quantile of
/// the ε*_k (MathNet.Numerics' default quantile definition, R-8). Using disjoint sets makes the bootstrap see the
/// estimation error of Ĥ as a new batch does; <see cref="Fit(NormalizingFlow, Tensor, int, TypicalityTestOptions?)"/>
/// splits one held-out tensor by position parity (even rows → Ĥ, odd rows → bootstrap), so data sorted by class is
/// split evenly. In-distribution batches are then rejected at a rate close to α.</para>
/// <para><b>Batch size.</b> The threshold depends on M, so <see cref="Test"/> accepts batches of exactly
/// <see cref="BatchSize"/> inputs and rejects any other size; fit one test per batch size. For single inputs (M = 1)
/// without a threshold see <see cref="TypicalityScorer"/>.</para>
/// <para><b>State.</b> The fitted state is <see cref="Entropy"/>, <see cref="BatchSize"/>, <see cref="Alpha"/> and the
/// sorted <see cref="BootstrapStatistics"/>; <see cref="Threshold"/> is recomputed from them, so
/// <c>new TypicalityTest(t.Flow, t.Entropy, t.BatchSize, t.Alpha, t.BootstrapStatistics, t.ChunkSize, t.Noise)</c>
/// reproduces every verdict exactly.</para>
/// </remarks>
public sealed class TypicalityTest : IDisposable
{
    /// <summary>Default K, the number of bootstrap batches.</summary>
    public const int DefaultBootstrapSamples = 1000;

    private readonly double[] bootstrapStatistics;
    private readonly bool ownsFlow;
    private int disposed;

    /// <summary>Creates the test from its state (e.g. when reloading a saved test).</summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="entropy">Ĥ in nats per example; finite.</param>
    /// <param name="batchSize">M, inputs per tested batch, ≥ 1.</param>
    /// <param name="alpha">α, the target false-positive rate, in (0, 1).</param>
    /// <param name="bootstrapStatistics">
    /// The K bootstrap statistics ε*_k in nats (any order; stored sorted), finite and ≥ 0, with K ≥ <see cref="MinimumBootstrapSamples"/>(α).
    /// </param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while testing (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the test disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="flow"/> or <paramref name="bootstrapStatistics"/> is null.</exception>
    /// <exception cref="ArgumentException">A value is out of range, non-finite, or there are too few bootstrap statistics.</exception>
    public TypicalityTest(
        NormalizingFlow flow,
        double entropy,
        int batchSize,
        double alpha,
        IReadOnlyList<double> bootstrapStatistics,
        int chunkSize = 256,
        ScoringNoise? noise = null,
        bool ownsFlow = false)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(bootstrapStatistics);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        if (!double.IsFinite(entropy))
        {
            throw new ArgumentOutOfRangeException(nameof(entropy), entropy, $"The entropy estimate must be finite, got {entropy}.");
        }

        CheckBatchSize(batchSize);
        CheckAlpha(alpha);
        CheckBootstrapSamples(bootstrapStatistics.Count, alpha, nameof(bootstrapStatistics));
        var sorted = bootstrapStatistics.ToArray();
        for (int k = 0; k < sorted.Length; k++)
        {
            if (!(double.IsFinite(sorted[k]) && sorted[k] >= 0))
            {
                throw new ArgumentException(
                    $"Bootstrap statistic {k} is {sorted[k]}; every statistic |mean NLL − Ĥ| must be finite and ≥ 0.",
                    nameof(bootstrapStatistics));
            }
        }

        Array.Sort(sorted);
        Flow = FlowEvaluation.PrepareForScoring(flow);
        this.ownsFlow = ownsFlow;
        Entropy = entropy;
        BatchSize = batchSize;
        Alpha = alpha;
        this.bootstrapStatistics = sorted;
        Threshold = SortedArrayStatistics.Quantile(sorted, 1 - alpha);
        ChunkSize = chunkSize;
        Noise = noise ?? ScoringNoise.BinCentres;
    }

    /// <summary>The flow.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>Ĥ, the entropy estimate: mean −log p(x) of held-out in-distribution data, in nats per example.</summary>
    public double Entropy { get; }

    /// <summary>M, the number of inputs in every tested batch.</summary>
    public int BatchSize { get; }

    /// <summary>α, the target false-positive rate (fraction of in-distribution batches rejected).</summary>
    public double Alpha { get; }

    /// <summary>The K bootstrap statistics ε*_k = |mean NLL of a bootstrap batch − Ĥ| in nats, sorted ascending.</summary>
    public IReadOnlyList<double> BootstrapStatistics => bootstrapStatistics;

    /// <summary>ε_α^M in nats: the (1 − α) quantile of <see cref="BootstrapStatistics"/>.</summary>
    public double Threshold { get; }

    /// <summary>Examples evaluated at once.</summary>
    public int ChunkSize { get; }

    /// <summary>The dequantization noise while testing (also used when fitting).</summary>
    public ScoringNoise Noise { get; }

    /// <summary>The smallest K accepted for level α: max(100, ⌈10/α⌉), so that at least 10 bootstrap statistics lie beyond the threshold.</summary>
    /// <param name="alpha">α in (0, 1).</param>
    /// <returns>The minimum number of bootstrap batches.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is not in (0, 1).</exception>
    public static int MinimumBootstrapSamples(double alpha)
    {
        CheckAlpha(alpha);
        return (int)Math.Max(100, Math.Ceiling(10 / alpha));
    }

    /// <summary>
    /// Fits the test on one held-out in-distribution set, split by position parity: rows 0, 2, 4, … estimate Ĥ, rows
    /// 1, 3, 5, … feed the bootstrap (see the remarks of <see cref="TypicalityTest"/>).
    /// </summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="heldOutInDistribution">In-distribution data the flow was not trained on, <c>[N, eventShape...]</c>, N ≥ 2·max(M, 2).</param>
    /// <param name="batchSize">M, inputs per tested batch, ≥ 1.</param>
    /// <param name="options">α, K, the bootstrap's seed, the chunk size and the noise (default <c>new TypicalityTestOptions()</c>).</param>
    /// <returns>The fitted test.</returns>
    /// <exception cref="ArgumentException">The data is invalid for the flow or too small, or a setting is out of range.</exception>
    /// <exception cref="InvalidOperationException">The flow gives a held-out example a NaN or infinite log-likelihood.</exception>
    public static TypicalityTest Fit(
        NormalizingFlow flow,
        Tensor heldOutInDistribution,
        int batchSize,
        TypicalityTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        options = CheckFitSettings(flow, batchSize, options);
        var minimum = 2 * Math.Max(batchSize, 2);
        flow.ValidateInput(heldOutInDistribution, nameof(heldOutInDistribution));
        if (heldOutInDistribution.size(0) < minimum)
        {
            throw new ArgumentException(
                $"Fitting a typicality test for batches of M = {batchSize} needs at least {minimum} held-out examples " +
                $"(half estimate Ĥ, half, at least max(M, 2), feed the bootstrap), got {heldOutInDistribution.size(0)}.",
                nameof(heldOutInDistribution));
        }

        var nll = TypicalityScorer.HeldOutNegativeLogLikelihoods(
            flow, heldOutInDistribution, options.ChunkSize, options.Noise, minimum, nameof(heldOutInDistribution));
        var entropyPart = nll.Where((_, i) => i % 2 == 0).ToArray();
        var bootstrapPart = nll.Where((_, i) => i % 2 == 1).ToArray();
        return Create(flow, entropyPart, bootstrapPart, batchSize, options);
    }

    /// <summary>
    /// Fits the test on two disjoint held-out in-distribution sets: Ĥ from <paramref name="entropyData"/>, the bootstrap
    /// from <paramref name="bootstrapData"/>.
    /// </summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="entropyData">Held-out in-distribution data for Ĥ, <c>[N₁, eventShape...]</c>, N₁ ≥ 2.</param>
    /// <param name="bootstrapData">Other held-out in-distribution data for the bootstrap, <c>[N₂, eventShape...]</c>, N₂ ≥ max(M, 2).</param>
    /// <param name="batchSize">M, inputs per tested batch, ≥ 1.</param>
    /// <param name="options">α, K, the bootstrap's seed, the chunk size and the noise (default <c>new TypicalityTestOptions()</c>).</param>
    /// <returns>The fitted test.</returns>
    /// <exception cref="ArgumentException">The data is invalid for the flow or too small, or a setting is out of range.</exception>
    /// <exception cref="InvalidOperationException">The flow gives a held-out example a NaN or infinite log-likelihood.</exception>
    public static TypicalityTest Fit(
        NormalizingFlow flow,
        Tensor entropyData,
        Tensor bootstrapData,
        int batchSize,
        TypicalityTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(entropyData);
        ArgumentNullException.ThrowIfNull(bootstrapData);
        options = CheckFitSettings(flow, batchSize, options);
        var entropyPart = TypicalityScorer.HeldOutNegativeLogLikelihoods(
            flow, entropyData, options.ChunkSize, options.Noise, 2, nameof(entropyData));
        var bootstrapPart = TypicalityScorer.HeldOutNegativeLogLikelihoods(
            flow, bootstrapData, options.ChunkSize, options.Noise, Math.Max(batchSize, 2), nameof(bootstrapData));
        return Create(flow, entropyPart, bootstrapPart, batchSize, options);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(System.Threading.Volatile.Read(ref disposed) != 0, this);

    private static TypicalityTestOptions CheckFitSettings(NormalizingFlow flow, int batchSize, TypicalityTestOptions? options)
    {
        ArgumentNullException.ThrowIfNull(flow);
        CheckBatchSize(batchSize);
        options ??= new TypicalityTestOptions();
        options.Validate();
        return options;
    }

    /// <summary>Disposes the flow when the test owns it (loaded tests do); harmless when called again.</summary>
    public void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref disposed, 1) == 0 && ownsFlow)
        {
            Flow.Dispose();
        }
    }

    /// <summary>Tests one batch of exactly <see cref="BatchSize"/> inputs.</summary>
    /// <param name="batch"><c>[M, eventShape...]</c> with M = <see cref="BatchSize"/>.</param>
    /// <returns>The statistic ε̂ (nats), the threshold, the bootstrap p-value and the verdict (OOD when ε̂ &gt; threshold).</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values, or not exactly M inputs.</exception>
    /// <exception cref="InvalidOperationException">The batch's mean log-likelihood is NaN.</exception>
    public TypicalityTestResult Test(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        Flow.ValidateInput(batch, nameof(batch));
        if (batch.size(0) != BatchSize)
        {
            throw new ArgumentException(
                $"This typicality test was fitted for batches of M = {BatchSize} inputs, got {batch.size(0)}; " +
                "its threshold depends on M, so fit one test per batch size (or use TestBatches for consecutive batches).",
                nameof(batch));
        }

        var logProb = FlowEvaluation.LogProbUnchecked(Flow, batch, ChunkSize, Noise);
        return Evaluate(logProb, 0);
    }

    /// <summary>Tests consecutive batches of <see cref="BatchSize"/> inputs: rows [bM, (b + 1)M) form batch b.</summary>
    /// <param name="data"><c>[B·M, eventShape...]</c>, a whole number B ≥ 1 of batches.</param>
    /// <returns>One result per batch, in order.</returns>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values, or its length is not a multiple of M.</exception>
    /// <exception cref="InvalidOperationException">A batch's mean log-likelihood is NaN.</exception>
    public IReadOnlyList<TypicalityTestResult> TestBatches(Tensor data)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed();
        Flow.ValidateInput(data, nameof(data));
        if (data.size(0) % BatchSize != 0)
        {
            throw new ArgumentException(
                $"TestBatches needs a whole number of batches of M = {BatchSize} inputs, got {data.size(0)} rows.", nameof(data));
        }

        var logProb = FlowEvaluation.LogProbUnchecked(Flow, data, ChunkSize, Noise);
        var results = new TypicalityTestResult[logProb.Length / BatchSize];
        for (int b = 0; b < results.Length; b++)
        {
            results[b] = Evaluate(logProb, b * BatchSize);
        }

        return results;
    }

    private static TypicalityTest Create(
        NormalizingFlow flow,
        double[] entropyPart,
        double[] bootstrapPart,
        int batchSize,
        TypicalityTestOptions options)
    {
        var entropy = Statistics.Mean(entropyPart);
        var random = new Random(options.Seed);
        var sample = new double[batchSize];
        var statistics = new double[options.BootstrapSamples];
        for (int k = 0; k < statistics.Length; k++)
        {
            for (int m = 0; m < sample.Length; m++)
            {
                sample[m] = bootstrapPart[random.Next(bootstrapPart.Length)];
            }

            statistics[k] = Math.Abs(Statistics.Mean(sample) - entropy);
        }

        return new TypicalityTest(flow, entropy, batchSize, options.Alpha, statistics, options.ChunkSize, options.Noise);
    }

    private TypicalityTestResult Evaluate(double[] logProb, int start)
    {
        var sum = 0.0;
        for (int m = start; m < start + BatchSize; m++)
        {
            sum -= logProb[m];
        }

        var meanNll = sum / BatchSize;
        if (double.IsNaN(meanNll))
        {
            throw new InvalidOperationException(
                "The typicality test got a NaN log-likelihood; the model's parameters may be corrupt or the input far outside its training range.");
        }

        var statistic = Math.Abs(meanNll - Entropy);
        return new TypicalityTestResult(meanNll, statistic, Threshold, PValue(statistic), statistic > Threshold);
    }

    // (1 + #{k : ε*_k ≥ ε̂}) / (K + 1), by binary search in the sorted statistics.
    private double PValue(double statistic)
    {
        int low = 0, high = bootstrapStatistics.Length;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (bootstrapStatistics[mid] < statistic)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return (1.0 + bootstrapStatistics.Length - low) / (bootstrapStatistics.Length + 1.0);
    }

    private static void CheckBatchSize(int batchSize)
    {
        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"The batch size M must be at least 1, got {batchSize}.");
        }
    }

    private static void CheckAlpha(double alpha)
    {
        if (!(alpha > 0 && alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, $"The level α must lie in (0, 1), got {alpha}.");
        }
    }

    private static void CheckBootstrapSamples(int count, double alpha, string parameter)
    {
        var minimum = MinimumBootstrapSamples(alpha);
        if (count < minimum)
        {
            throw new ArgumentException(
                $"The typicality test at α = {alpha} needs at least {minimum} bootstrap statistics (max(100, ⌈10/α⌉)), got {count}.",
                parameter);
        }
    }
}
