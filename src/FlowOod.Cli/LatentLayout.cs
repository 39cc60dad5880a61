using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using FlowOod.Analysis;
using FlowOod.Data;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>How <see cref="LatentLayout.Measure"/> runs: images per set, dequantization draws, seed, batch size.</summary>
internal sealed record LatentLayoutSettings
{
    /// <summary>Images 0 … N − 1 of each set (at most the set's size); at least 4.</summary>
    public int Images { get; init; } = 500;

    /// <summary>Dequantization draws averaged into z̄ (the paper's pictures average 40).</summary>
    public int Draws { get; init; } = 8;

    /// <summary>Seed of the dequantization noise and of the shuffled pairing.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; init; } = 64;
}

/// <summary>Mean and 5th–95th percentile range of a per-image quantity.</summary>
internal sealed record Spread(double Mean, double P5, double P95)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return new(double.NaN, double.NaN, double.NaN);
        }

        var sorted = values.OrderBy(v => v).ToArray();
        return new(sorted.Average(), Quantile(sorted, 0.05), Quantile(sorted, 0.95));
    }

    /// <summary>Linear interpolation between order statistics (type 7).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        var h = (sorted.Length - 1) * q;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Mean:F3} [{P5:F3}, {P95:F3}]");
}

/// <summary>
/// The latent-layout measure of one flow on one image set (see <see cref="LatentLayout"/> for the definition).
/// </summary>
/// <param name="Model">The model's name.</param>
/// <param name="Set">The image set's name.</param>
/// <param name="Images">Images with a defined score (an all-blank image has none).</param>
/// <param name="Draws">Dequantization draws averaged into z̄.</param>
/// <param name="Own">Layout score with the image's own content: mean and 5–95% range over images.</param>
/// <param name="Shuffled">The same score with another image's content (the null).</param>
/// <param name="Gain">Mean over images of own − shuffled.</param>
/// <param name="GainLow">Lower end of the gain's 95% confidence interval, mean − 1.96 sd/√N.</param>
/// <param name="GainHigh">Upper end, mean + 1.96 sd/√N.</param>
/// <param name="Wins">The share of images whose own score exceeds their shuffled score (0.5 when z ignores its image).</param>
/// <param name="WinsLow">Lower end of the share's 95% Wilson interval.</param>
/// <param name="WinsHigh">Upper end of the share's 95% Wilson interval.</param>
/// <param name="Edges">Spearman ρ(|z̄|, edge strength of the own image): mean and 5–95% range.</param>
/// <param name="EdgesShuffled">The same with another image's edges: mean.</param>
internal sealed record LatentLayoutSummary(
    string Model, string Set, int Images, int Draws, Spread Own, Spread Shuffled, double Gain, double GainLow, double GainHigh,
    double Wins, double WinsLow, double WinsHigh, Spread Edges, double EdgesShuffled)
{
    /// <summary>The share of images, halfway between chance (0.5) and every image (1), above which the layout is kept.</summary>
    public const double Threshold = 0.75;

    /// <summary>The verdict: the 95% interval of the share of images whose own score beats the shuffled one lies above <see cref="Threshold"/>.</summary>
    public bool Kept => WinsLow > Threshold;

    /// <summary>One line of text: the share with its interval, own vs shuffled, N.</summary>
    public string Measured => string.Create(CultureInfo.InvariantCulture,
        $"own > shuffled in {Wins * 100:F0}% [{WinsLow * 100:F0}%, {WinsHigh * 100:F0}%] of {Images} images; score {Own.Mean:F3} vs {Shuffled.Mean:F3}, gain {Gain:F3} [{GainLow:F3}, {GainHigh:F3}]");
}

/// <summary>
/// Sec. 5 of Kirichenko et al. (2020), measured over many images: does a flow's latent z, put back at pixel positions
/// (<see cref="LatentView.ToPixelLayout"/>), keep the layout of the image it came from?
/// </summary>
/// <remarks>
/// <para>The pictures show the digit or garment in z as a pattern of magnitudes: large |z| on the image's edges
/// (RealNVP) or inside the object (Glow), while z's sign and its correlation with the pixel values vary. The measure
/// therefore asks how well the image's local content predicts where |z| is large, with no assumption on the form:</para>
/// <para>1. Maps, per image and pixel i: a_i = |z̄_i| (the root mean square over channels of z averaged over the
/// draws), the intensity u_i (mean over channels of x ∈ [0, 1]) and the edge strength g_i (Sobel gradient magnitude of
/// u, borders replicated).</para>
/// <para>2. A lookup table T(u, g) = the mean of a over all pixels of the fitting images whose (u, g) fall in the same
/// cell of octile bins of u and of g (quantiles of the fitting images' pixels). T is fitted on the odd images and applied
/// to the even ones and vice versa, so no image predicts itself.</para>
/// <para>3. Own score of image n: Spearman ρ over its pixels between a_n and T(u_n, g_n). Shuffled score: ρ between a_n and
/// T(u_m, g_m) for another image m of the same set (a seeded random derangement), the null of a latent that follows the
/// set's typical layout but not its own image's.</para>
/// <para>4. Verdict: the layout is kept when the share of images whose own score beats their shuffled score (0.5 for a
/// latent that ignores its image) has its 95% Wilson interval above <see cref="LatentLayoutSummary.Threshold"/>. The mean
/// gain own − shuffled with its interval (mean ± 1.96 sd/√N) says by how much.</para>
/// </remarks>
internal static partial class LatentLayout
{
    private const int Bins = 8;

    /// <summary>The measure's rule, as the results page states it.</summary>
    public static string Rule(int draws) =>
        "Layout score of an image: the Spearman correlation, over its pixel positions, between |z̄| (the magnitude of z averaged over "
        + draws.ToString(CultureInfo.InvariantCulture) + " dequantization draws, "
        + "at pixel positions) and the |z̄| predicted at each pixel from the image's own local content: a table of mean |z̄| by octile bins of pixel intensity × Sobel edge strength, "
        + "fitted on the other half of the set (odd images predict even ones and vice versa). Shuffled null: the same correlation with the content of another image of the set "
        + "(a seeded random pairing). The layout is called kept when the share of images whose own score beats their shuffled score (0.5 for a latent that ignores its image) "
        + "has its 95% Wilson interval above " + LatentLayoutSummary.Threshold.ToString("F2", CultureInfo.InvariantCulture)
        + "; the mean gain own − shuffled (95% interval mean ± 1.96 sd/√N) says by how much. ρ(|z̄|, edges) is the Spearman correlation of |z̄| with the image's own Sobel edge strength "
        + "(positive: z is large on the image's edges, the paper's \"we can recognize edges of the inputs in their latent representations\"), next to the same with another image's edges.";

    /// <summary>
    /// Measures <paramref name="flow"/> on images 0 … N − 1 of each set (see <see cref="LatentLayout"/>). Works on any
    /// flow of FlowOod's bijectors whose event shape is <c>[C, H, W]</c> with the sets' H × W (the baseline RealNVP and
    /// Glow, the single-scale checkerboard, cycle-mask, horizontal and bottleneck models). BatchNorm layers use their running
    /// statistics; the flow is not changed.
    /// </summary>
    /// <param name="flow">The trained flow (call <c>eval()</c> first).</param>
    /// <param name="model">The model's name, carried into the summaries.</param>
    /// <param name="sets">The image sets, e.g. Fashion-MNIST test and MNIST test.</param>
    /// <param name="settings">Images, draws, seed, batch size.</param>
    /// <returns>One summary per set, in order.</returns>
    public static IReadOnlyList<LatentLayoutSummary> Measure(NormalizingFlow flow, string model, IReadOnlyList<ImageDataset> sets, LatentLayoutSettings settings)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(sets);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.Draws);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.BatchSize);
        var shape = flow.EventShape;
        if (shape.Count != 3)
        {
            throw new ArgumentException($"The layout measure needs a flow over images [C, H, W]; this flow's event shape is [{string.Join(", ", shape)}].", nameof(flow));
        }

        var (channels, height, width) = ((int)shape[0], (int)shape[1], (int)shape[2]);
        var results = new List<LatentLayoutSummary>();
        foreach (var set in sets)
        {
            if (set.Height != height || set.Width != width || channels != 1)
            {
                throw new ArgumentException(
                    $"Set '{set.Name}' holds {set.Height}×{set.Width} grayscale images; the flow's event shape is [{channels}, {height}, {width}].", nameof(sets));
            }

            var count = Math.Min(settings.Images, set.Count);
            var size = channels * height * width;
            var images = new float[count * size];
            var latents = new float[count * size];
            for (int start = 0; start < count; start += settings.BatchSize)
            {
                using var scope = NewDisposeScope();
                var n = Math.Min(settings.BatchSize, count - start);
                var x = set.ToTensor(start, n);
                var z = LatentView.Latents(flow, x, ScoringNoise.SeededStream(unchecked((ulong)settings.Seed + (ulong)start)), settings.Draws);
                var atPixels = LatentView.ToPixelLayout(flow, z);
                x.data<float>().CopyTo(images, start * size);
                atPixels.to(ScalarType.Float32).cpu().data<float>().CopyTo(latents, start * size);
            }

            results.Add(Score(model, set.Name, images, latents, count, channels, height, width, settings.Draws, settings.Seed));
        }

        return results;
    }

    /// <summary>
    /// The measure on given images and latents at pixel positions, both <c>[count, channels, height, width]</c> row-major
    /// (images in [0, 1]).
    /// </summary>
    public static LatentLayoutSummary Score(string model, string set, float[] images, float[] latents, int count, int channels, int height, int width, int draws, long seed)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(latents);
        var size = channels * height * width;
        if (count < 4 || images.Length != count * size || latents.Length != count * size)
        {
            throw new ArgumentException(
                $"Expected at least 4 images and latents of {count} × {channels} × {height} × {width} values, got {images.Length} and {latents.Length}.", nameof(images));
        }

        var pixels = height * width;
        var u = new double[count][];
        var g = new double[count][];
        var a = new double[count][];
        for (int n = 0; n < count; n++)
        {
            (u[n], a[n]) = (new double[pixels], new double[pixels]);
            for (int c = 0; c < channels; c++)
            {
                for (int i = 0; i < pixels; i++)
                {
                    var z = (double)latents[(n * size) + (c * pixels) + i];
                    u[n][i] += images[(n * size) + (c * pixels) + i] / (double)channels;
                    a[n][i] += z * z / channels;
                }
            }

            for (int i = 0; i < pixels; i++)
            {
                a[n][i] = Math.Sqrt(a[n][i]);
            }

            g[n] = Sobel(u[n], height, width);
        }

        var tables = new[] { Table.Fit(u, g, a, fold: 1), Table.Fit(u, g, a, fold: 0) }; // tables[n % 2] never saw image n
        var partner = Derangement(count, seed);
        var (own, shuffled, gains, edges, edgesShuffled) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (int n = 0; n < count; n++)
        {
            var table = tables[n % 2];
            var m = partner[n];
            var (o, s) = (Spearman(a[n], table.Predict(u[n], g[n])), Spearman(a[n], table.Predict(u[m], g[m])));
            if (double.IsFinite(o) && double.IsFinite(s))
            {
                own.Add(o);
                shuffled.Add(s);
                gains.Add(o - s);
            }

            var (e, es) = (Spearman(a[n], g[n]), Spearman(a[n], g[m]));
            if (double.IsFinite(e) && double.IsFinite(es))
            {
                edges.Add(e);
                edgesShuffled.Add(es);
            }
        }

        var (mean, halfWidth) = MeanAndHalfWidth(gains);
        var (wins, winsLow, winsHigh) = Wilson(gains.Count(v => v > 0), gains.Count);
        return new LatentLayoutSummary(model, set, gains.Count, draws, Spread.Of(own), Spread.Of(shuffled), mean, mean - halfWidth, mean + halfWidth,
            wins, winsLow, winsHigh, Spread.Of(edges), edgesShuffled.Count == 0 ? double.NaN : edgesShuffled.Average());
    }

    /// <summary>A Markdown table of summaries with the verdict column.</summary>
    public static string MarkdownTable(IEnumerable<LatentLayoutSummary> summaries)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        var text = new StringBuilder()
            .AppendLine("| model | set | images | layout score, own [5–95%] | shuffled image [5–95%] | gain [95% CI] | own > shuffled [95% CI] | ρ(\\|z̄\\|, edges) own [5–95%] / shuffled | layout kept |")
            .AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var s in summaries)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Model} | {s.Set} | {s.Images} | {s.Own} | {s.Shuffled} | {s.Gain:F3} [{s.GainLow:F3}, {s.GainHigh:F3}] | {s.Wins * 100:F1}% [{s.WinsLow * 100:F1}%, {s.WinsHigh * 100:F1}%] | {s.Edges} / {s.EdgesShuffled:F3} | {(s.Kept ? "yes" : "**no**")} |");
        }

        return text.ToString();
    }

    // Mean |z̄| per cell of octile bins of intensity × edge strength, fitted on the images of one parity.
    private sealed class Table
    {
        private readonly double[] intensityCuts;
        private readonly double[] edgeCuts;
        private readonly double[] means;

        private Table(double[] intensityCuts, double[] edgeCuts, double[] means) => (this.intensityCuts, this.edgeCuts, this.means) = (intensityCuts, edgeCuts, means);

        public static Table Fit(double[][] u, double[][] g, double[][] a, int fold)
        {
            var images = Enumerable.Range(0, u.Length).Where(n => n % 2 == fold).ToArray();
            var intensityCuts = Cuts(images.SelectMany(n => u[n]));
            var edgeCuts = Cuts(images.SelectMany(n => g[n]));
            var (sums, counts) = (new double[Bins * Bins], new long[Bins * Bins]);
            double total = 0;
            long all = 0;
            foreach (var n in images)
            {
                for (int i = 0; i < u[n].Length; i++)
                {
                    var cell = Cell(intensityCuts, edgeCuts, u[n][i], g[n][i]);
                    sums[cell] += a[n][i];
                    counts[cell]++;
                    total += a[n][i];
                    all++;
                }
            }

            var fallback = all > 0 ? total / all : 0;
            return new Table(intensityCuts, edgeCuts, sums.Select((s, k) => counts[k] > 0 ? s / counts[k] : fallback).ToArray());
        }

        public double[] Predict(double[] u, double[] g) => u.Select((v, i) => means[Cell(intensityCuts, edgeCuts, v, g[i])]).ToArray();

        // The distinct 1/8 … 7/8 quantiles of the pooled values.
        private static double[] Cuts(IEnumerable<double> values)
        {
            var sorted = values.OrderBy(v => v).ToArray();
            return sorted.Length == 0 ? [] : Enumerable.Range(1, Bins - 1).Select(k => Spread.Quantile(sorted, k / (double)Bins)).Distinct().ToArray();
        }

        private static int Cell(double[] intensityCuts, double[] edgeCuts, double u, double g) => (Bin(intensityCuts, u) * Bins) + Bin(edgeCuts, g);

        // The number of cut points strictly below the value: 0 … Bins − 1.
        private static int Bin(double[] cuts, double value)
        {
            var bin = 0;
            while (bin < cuts.Length && cuts[bin] < value)
            {
                bin++;
            }

            return bin;
        }
    }
}
