using System;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Scoring;

/// <summary>
/// A product of one-dimensional Gaussian kernel density estimates, one per statistic (DoSE's KDE variant with the
/// statistics treated as independent): −log q(t) = −Σ_j log KDE_j(u_j), computed with log-sum-exp.
/// </summary>
/// <remarks>
/// <para>For statistic j with fitted samples t_{j,1} … t_{j,m}: mean μ_j, sample standard deviation σ_j (n − 1), scale
/// s_j = max(σ_j, 10⁻⁶·max(1, |μ_j|)) (the floor keeps a constant statistic from dividing by zero), standardised
/// samples u_{j,i} = (t_{j,i} − μ_j)/s_j. Bandwidth by Silverman's rule of thumb on the standardised samples,
/// h_j = 0.9·A_j·m^(−1/5) with A_j = min(σ_j/s_j, IQR(u_j)/1.34), falling back to σ_j/s_j when that is 0 and to 1 when
/// both are (R's <c>bw.nrd0</c>), so h_j &gt; 0 always.</para>
/// <para>log KDE_j(u) = log Σ_i exp(−½((u − u_{j,i})/h_j)²) − log(m·h_j·√(2π)): a density of the standardised statistic
/// (in t_j's own units it differs by the constant −log s_j, which changes no ranking). The sum is a log-sum-exp around
/// its largest term, so a statistic far from every sample gives a large finite −log KDE (≈ ½(distance/h)²); an overflow
/// (a statistic beyond ~10³⁰⁰ standard deviations) saturates the result at <see cref="double.MaxValue"/>.</para>
/// <para>Immutable after construction; safe to use from any number of threads.</para>
/// </remarks>
internal sealed class IndependentKde
{
    /// <summary>The floor of the scale s_j relative to max(1, |μ_j|).</summary>
    public const double RelativeScaleFloor = 1e-6;

    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    private readonly double[][] standardized;
    private readonly double[] mean;
    private readonly double[] scale;
    private readonly double[] bandwidth;
    private readonly double[] logNormalizer;

    /// <summary>Fits the estimate to <paramref name="samples"/>: one list per statistic, all of the same length m ≥ 2, all finite.</summary>
    /// <exception cref="ArgumentException">No statistics, lists of different lengths or shorter than 2, or a value that is not finite.</exception>
    public IndependentKde(IReadOnlyList<IReadOnlyList<double>> samples, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(samples, parameterName);
        if (Problem(samples) is { } problem)
        {
            throw new ArgumentException(problem, parameterName);
        }

        var statistics = samples.Count;
        standardized = new double[statistics][];
        mean = new double[statistics];
        scale = new double[statistics];
        bandwidth = new double[statistics];
        logNormalizer = new double[statistics];
        for (int j = 0; j < statistics; j++)
        {
            var values = samples[j].ToArray();
            var m = values.Length;
            var mu = values.Average();
            var sumOfSquares = 0.0;
            foreach (var v in values)
            {
                sumOfSquares += (v - mu) * (v - mu);
            }

            var sigma = Math.Sqrt(sumOfSquares / (m - 1));
            var s = Math.Max(sigma, RelativeScaleFloor * Math.Max(1, Math.Abs(mu)));
            var u = values.Select(v => (v - mu) / s).ToArray();
            var sorted = u.Order().ToArray();
            var spread = sigma / s;
            var a = Math.Min(spread, (Quantile(sorted, 0.75) - Quantile(sorted, 0.25)) / 1.34);
            if (!(a > 0))
            {
                a = spread > 0 ? spread : 1;
            }

            var h = 0.9 * a * Math.Pow(m, -0.2);
            standardized[j] = u;
            mean[j] = mu;
            scale[j] = s;
            bandwidth[j] = h;
            logNormalizer[j] = Math.Log(m) + Math.Log(h) + HalfLogTwoPi;
        }
    }

    /// <summary>S, the number of statistics.</summary>
    public int Count => mean.Length;

    /// <summary>μ_j.</summary>
    public double Mean(int statistic) => mean[statistic];

    /// <summary>s_j, the floored standard deviation.</summary>
    public double Scale(int statistic) => scale[statistic];

    /// <summary>h_j, the bandwidth in standardised units.</summary>
    public double Bandwidth(int statistic) => bandwidth[statistic];

    /// <summary>The standardised samples u_{j,i} (the array itself: do not write to it).</summary>
    public double[] Standardized(int statistic) => standardized[statistic];

    /// <summary>log(m·h_j·√(2π)), the normaliser subtracted from the log-sum-exp.</summary>
    public double LogNormalizer(int statistic) => logNormalizer[statistic];

    /// <summary>Why <paramref name="samples"/> cannot be fitted, or null.</summary>
    public static string? Problem(IReadOnlyList<IReadOnlyList<double>> samples)
    {
        if (samples.Count == 0)
        {
            return "There must be at least one statistic.";
        }

        var m = samples[0]?.Count ?? 0;
        for (int j = 0; j < samples.Count; j++)
        {
            if (samples[j] is null || samples[j].Count != m || m < 2)
            {
                return $"Every statistic needs the same number (at least 2) of fitted samples; statistic 0 has {m}, statistic {j} has {samples[j]?.Count ?? 0}.";
            }

            for (int i = 0; i < m; i++)
            {
                if (!double.IsFinite(samples[j][i]))
                {
                    return $"Fitted sample {i} of statistic {j} is {samples[j][i]}; every sample must be finite.";
                }
            }
        }

        return null;
    }

    /// <summary>log KDE_j(u) at the standardised value of the statistic <paramref name="value"/> (raw units).</summary>
    public double LogDensity(int statistic, double value)
    {
        var u = (value - mean[statistic]) / scale[statistic];
        var h = bandwidth[statistic];
        var samples = standardized[statistic];
        var largest = double.NegativeInfinity;
        foreach (var ui in samples)
        {
            var d = (u - ui) / h;
            largest = Math.Max(largest, -0.5 * d * d);
        }

        if (double.IsNegativeInfinity(largest) || double.IsNaN(largest))
        {
            return double.NegativeInfinity;
        }

        var sum = 0.0;
        foreach (var ui in samples)
        {
            var d = (u - ui) / h;
            sum += Math.Exp((-0.5 * d * d) - largest);
        }

        return largest + Math.Log(sum) - logNormalizer[statistic];
    }

    /// <summary>−Σ_j log KDE_j of one example's statistics, saturated at <see cref="double.MaxValue"/>.</summary>
    public double NegativeLogDensity(ReadOnlySpan<double> statistics)
    {
        var total = 0.0;
        for (int j = 0; j < Count; j++)
        {
            total -= LogDensity(j, statistics[j]);
        }

        return double.IsNaN(total) || total > double.MaxValue ? double.MaxValue : total;
    }

    /// <summary>
    /// The samples a fit keeps of N examples' statistics (row-major <c>[N, S]</c>): per statistic all N values sorted, or,
    /// when N exceeds <paramref name="cap"/>, the <paramref name="cap"/> order statistics at ranks round(i·(N − 1)/(cap − 1)).
    /// </summary>
    public static double[][] Keep(double[] rowMajor, int rows, int statistics, int cap)
    {
        var kept = Math.Min(rows, cap);
        var result = new double[statistics][];
        var column = new double[rows];
        for (int j = 0; j < statistics; j++)
        {
            for (int n = 0; n < rows; n++)
            {
                column[n] = rowMajor[(n * statistics) + j];
            }

            Array.Sort(column);
            result[j] = new double[kept];
            for (int i = 0; i < kept; i++)
            {
                var rank = kept == rows ? i : (int)Math.Round((double)i * (rows - 1) / (kept - 1), MidpointRounding.AwayFromZero);
                result[j][i] = column[rank];
            }
        }

        return result;
    }

    // Type-7 quantile (linear interpolation between order statistics) of sorted values.
    private static double Quantile(double[] sorted, double p)
    {
        var position = p * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }
}
