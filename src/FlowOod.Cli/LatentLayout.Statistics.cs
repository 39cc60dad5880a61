using System;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Cli;

// The layout measure's statistics: rank correlation, edge map, shuffled pairing, intervals.
internal static partial class LatentLayout
{
    /// <summary>Spearman rank correlation (average ranks for ties); NaN when either series is constant.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>Sobel gradient magnitude of a <paramref name="height"/> × <paramref name="width"/> map, borders replicated.</summary>
    public static double[] Sobel(double[] map, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(map);
        double At(int r, int c) => map[(Math.Clamp(r, 0, height - 1) * width) + Math.Clamp(c, 0, width - 1)];
        var result = new double[height * width];
        for (int r = 0; r < height; r++)
        {
            for (int c = 0; c < width; c++)
            {
                var gx = At(r - 1, c + 1) + (2 * At(r, c + 1)) + At(r + 1, c + 1) - At(r - 1, c - 1) - (2 * At(r, c - 1)) - At(r + 1, c - 1);
                var gy = At(r + 1, c - 1) + (2 * At(r + 1, c)) + At(r + 1, c + 1) - At(r - 1, c - 1) - (2 * At(r - 1, c)) - At(r - 1, c + 1);
                result[(r * width) + c] = Math.Sqrt((gx * gx) + (gy * gy));
            }
        }

        return result;
    }

    /// <summary>A seeded random permutation with no fixed point (Sattolo's algorithm: one cycle through all indices).</summary>
    public static int[] Derangement(int count, long seed)
    {
        var p = Enumerable.Range(0, count).ToArray();
        var random = new Random(unchecked((int)seed) ^ 0x5EC5);
        for (int i = count - 1; i > 0; i--)
        {
            var j = random.Next(i);
            (p[i], p[j]) = (p[j], p[i]);
        }

        return p;
    }

    /// <summary>The share k/n with its 95% Wilson score interval; NaN for n = 0.</summary>
    public static (double Share, double Low, double High) Wilson(int k, int n)
    {
        if (n == 0)
        {
            return (double.NaN, double.NaN, double.NaN);
        }

        const double Z = 1.959963984540054;
        var p = k / (double)n;
        var centre = (p + (Z * Z / (2 * n))) / (1 + (Z * Z / n));
        var half = Z * Math.Sqrt((p * (1 - p) / n) + (Z * Z / (4.0 * n * n))) / (1 + (Z * Z / n));
        return (p, centre - half, centre + half);
    }

    private static (double Mean, double HalfWidth) MeanAndHalfWidth(List<double> values)
    {
        if (values.Count < 2)
        {
            return (double.NaN, double.NaN);
        }

        var mean = values.Average();
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return (mean, 1.96 * sd / Math.Sqrt(values.Count));
    }

    private static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]])
            {
                end++;
            }

            for (int k = start; k <= end; k++)
            {
                ranks[order[k]] = (start + end) / 2.0;
            }

            start = end + 1;
        }

        return ranks;
    }

    private static double Pearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }

        return saa > 0 && sbb > 0 ? sab / Math.Sqrt(saa * sbb) : double.NaN;
    }
}
