using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FlowOod.Analysis;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// One coupling layer on one image set, per image n: the residual r_n = Σ_i (x_{n,i} + t_{n,i})² and the deviation
/// d_n = Σ_i (x_{n,i} − x̄_i)² over the layer's transformed entries i, x̄ the set's mean of each entry. The layer's
/// R² = 1 − Σ_n r_n / Σ_n d_n (the definition of <see cref="CoAdaptation.Measure"/>).
/// </summary>
internal sealed record LayerImages(string Layer, double[] Residual, double[] Deviation)
{
    public double RSquared => RSquaredOf(Enumerable.Range(0, Residual.Length));

    /// <summary>R² over the given images (with repeats, for the bootstrap).</summary>
    public double RSquaredOf(IEnumerable<int> images)
    {
        double r = 0, d = 0;
        foreach (var n in images)
        {
            r += Residual[n];
            d += Deviation[n];
        }

        return d > 0 ? 1 - (r / d) : double.NaN;
    }
}

/// <summary>An estimate with its 95% bootstrap percentile interval.</summary>
internal sealed record Estimate(double Value, double Low, double High)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Value:F3} [{Low:F3}, {High:F3}]");
}

/// <summary>One of the paper's expectations tested: the claim, the rule, what was measured, whether it held.</summary>
internal sealed record CoAdaptationCheck(string Claim, string Target, string Measured, bool Held);

/// <summary>
/// Sec. 6 of Kirichenko et al. (2020) as the paper states it, on the 3-layer horizontal-mask model trained on
/// Fashion-MNIST (layer 1 conditions on the top half and changes the bottom, layer 2 the reverse, layer 3 as layer 1):
/// "It is not possible for the st-network that was only trained on FashionMNIST to predict the top half of an MNIST
/// digit based on the other half. The resolution is that the first layer encodes information about the top half into
/// the bottom half of the image; the second layer then decodes this information to accurately predict the top half.
/// Similarly, the third layer leverages information about the bottom half of the image encoded by the second layer."
/// </summary>
/// <remarks>
/// <para>"Predict" is measured by R² of −t as a prediction of the layer's transformed half (<see cref="LayerImages"/>).
/// The expectations tested, each with a 95% bootstrap interval over images (in- and OOD sets resampled independently,
/// all layers of a set on the same resample):</para>
/// <para>1. Layer 1 cannot predict its masked half of MNIST as it does Fashion-MNIST's: R²₁(Fashion) − R²₁(MNIST) &gt; 0,
/// interval above 0.</para>
/// <para>2. Each later layer k predicts its half of MNIST better than layer 1 does (it decodes what the previous layer
/// encoded): R²_k(MNIST) − R²₁(MNIST) &gt; 0, interval above 0.</para>
/// <para>3. Each later layer predicts MNIST as accurately as Fashion-MNIST (Sec. 6: "equally accurately on in- and
/// out-of-distribution"): R²_k(MNIST) − R²_k(Fashion) with its interval above −<see cref="Tolerance"/>.</para>
/// </remarks>
internal static class CoAdaptationCriterion
{
    /// <summary>How much lower R² on MNIST than on Fashion-MNIST still counts as "as accurately".</summary>
    public const double Tolerance = 0.1;

    /// <summary>The rule as the results page states it.</summary>
    public static string Rule(int resamples) =>
        "Rule (the paper's Sec. 6 expectation; R² of −t predicting the layer's transformed half; 95% bootstrap intervals over images, "
        + resamples.ToString(CultureInfo.InvariantCulture) + " resamples, the two sets resampled independently): "
        + "(1) coupling 1 cannot predict the bottom half of MNIST from the top half as it does for Fashion-MNIST: R²₁ Fashion − R²₁ MNIST > 0 with its interval above 0; "
        + "(2) each later coupling predicts its half of MNIST better than coupling 1 does, because the previous layer encoded it: R²ₖ MNIST − R²₁ MNIST with its interval above 0; "
        + "(3) each later coupling predicts MNIST as accurately as Fashion-MNIST: R²ₖ MNIST − R²ₖ Fashion with its interval above −"
        + Tolerance.ToString("F1", CultureInfo.InvariantCulture) + ".";

    /// <summary>
    /// Per-image residuals and deviations of every coupling layer with a shift (<see cref="CouplingView.Trace"/> batch by
    /// batch), in forward order.
    /// </summary>
    /// <param name="flow">The trained flow (BatchNorm on its running statistics).</param>
    /// <param name="images">The set, <c>[N, C, H, W]</c>, N ≥ 2.</param>
    /// <param name="noise">The dequantization noise (the experiment uses bin centres).</param>
    /// <param name="batchSize">Images per forward pass.</param>
    public static IReadOnlyList<LayerImages> Collect(NormalizingFlow flow, Tensor images, ScoringNoise noise, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var count = (int)images.shape[0];
        var layers = new List<(string Name, int[] Entries, double[] Residual, float[] Values)>();
        for (int start = 0; start < count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var n = Math.Min(batchSize, count - start);
            using var trace = CouplingView.Trace(flow, images.narrow(0, start, n), noise);
            var k = 0;
            foreach (var layer in trace.Where(l => l.Shift is not null))
            {
                if (start == 0)
                {
                    var mask = layer.TransformMask.flatten().cpu().data<bool>().ToArray();
                    var entries = Enumerable.Range(0, mask.Length).Where(i => mask[i]).ToArray();
                    layers.Add((layer.Name, entries, new double[count], new float[(long)count * entries.Length]));
                }

                var (_, indices, residual, values) = layers[k++];
                var x = layer.Input.to(ScalarType.Float32).cpu().data<float>().ToArray();
                var t = layer.Shift!.to(ScalarType.Float32).cpu().data<float>().ToArray();
                var size = x.Length / n;
                for (int j = 0; j < n; j++)
                {
                    double r = 0;
                    for (int e = 0; e < indices.Length; e++)
                    {
                        var at = (j * size) + indices[e];
                        var value = x[at];
                        r += ((double)value + t[at]) * ((double)value + t[at]);
                        values[((long)(start + j) * indices.Length) + e] = value;
                    }

                    residual[start + j] = r;
                }
            }
        }

        return layers.Select(l => new LayerImages(l.Name, l.Residual, Deviations(l.Values, count, l.Entries.Length))).ToList();
    }

    /// <summary>
    /// The rows (R² per layer and set with intervals) and the paper's expectations tested (see
    /// <see cref="CoAdaptationCriterion"/>). Layers are matched by position; the first is layer 1.
    /// </summary>
    public static (IReadOnlyList<CoAdaptationRow> Rows, IReadOnlyList<CoAdaptationCheck> Checks) Evaluate(
        IReadOnlyList<LayerImages> inDistribution, IReadOnlyList<LayerImages> ood, int resamples, long seed)
    {
        ArgumentNullException.ThrowIfNull(inDistribution);
        ArgumentNullException.ThrowIfNull(ood);
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 10);
        if (inDistribution.Count != ood.Count || inDistribution.Count == 0)
        {
            throw new ArgumentException($"Expected the same coupling layers on both sets, got {inDistribution.Count} and {ood.Count}.", nameof(ood));
        }

        var layers = inDistribution.Count;
        var random = new Random(unchecked((int)seed) ^ 0x5EC6);
        var (inSamples, oodSamples) = (new double[resamples][], new double[resamples][]);
        for (int b = 0; b < resamples; b++)
        {
            inSamples[b] = Resample(inDistribution, random);
            oodSamples[b] = Resample(ood, random);
        }

        Estimate Of(Func<double[], double[], double> statistic)
        {
            var values = Enumerable.Range(0, resamples).Select(b => statistic(inSamples[b], oodSamples[b])).Where(double.IsFinite).OrderBy(v => v).ToArray();
            var point = statistic(inDistribution.Select(l => l.RSquared).ToArray(), ood.Select(l => l.RSquared).ToArray());
            return values.Length == 0 ? new(point, double.NaN, double.NaN) : new(point, Spread.Quantile(values, 0.025), Spread.Quantile(values, 0.975));
        }

        var rows = Enumerable.Range(0, layers).Select(k =>
        {
            var (i, o) = (Of((a, _) => a[k]), Of((_, b) => b[k]));
            return new CoAdaptationRow(inDistribution[k].Layer, i.Value, o.Value, i.Low, i.High, o.Low, o.High);
        }).ToList();

        var checks = new List<CoAdaptationCheck>();
        var first = Of((a, b) => a[0] - b[0]);
        checks.Add(new(
            $"Co-adaptation (Sec. 6): {inDistribution[0].Layer} cannot predict its masked half of MNIST as it does Fashion-MNIST's",
            "R²₁ Fashion − R²₁ MNIST > 0 (95% CI above 0)",
            string.Create(CultureInfo.InvariantCulture, $"{first} (R² {rows[0].InDistribution:F3} Fashion, {rows[0].Ood:F3} MNIST)"),
            first.Low > 0));
        for (int k = 1; k < layers; k++)
        {
            var layer = k;
            var better = Of((_, b) => b[layer] - b[0]);
            checks.Add(new(
                $"Co-adaptation (Sec. 6): {ood[k].Layer} predicts its half of MNIST better than {ood[0].Layer} (decodes what the previous layer encoded)",
                $"R²{Subscript(k + 1)} MNIST − R²₁ MNIST > 0 (95% CI above 0)",
                string.Create(CultureInfo.InvariantCulture, $"{better} (R² {rows[k].Ood:F3} vs {rows[0].Ood:F3})"),
                better.Low > 0));
            var equal = Of((a, b) => b[layer] - a[layer]);
            checks.Add(new(
                $"Co-adaptation (Sec. 6): {ood[k].Layer} predicts its half of MNIST as accurately as of Fashion-MNIST",
                string.Create(CultureInfo.InvariantCulture, $"R²{Subscript(k + 1)} MNIST − R²{Subscript(k + 1)} Fashion > −{Tolerance:F1} (95% CI)"),
                string.Create(CultureInfo.InvariantCulture, $"{equal} (R² {rows[k].Ood:F3} MNIST, {rows[k].InDistribution:F3} Fashion)"),
                equal.Low > -Tolerance));
        }

        return (rows, checks);
    }

    private static string Subscript(int k) => string.Concat(k.ToString(CultureInfo.InvariantCulture).Select(c => (char)('₀' + (c - '0'))));

    // One bootstrap resample of the set's images, the same images for every layer.
    private static double[] Resample(IReadOnlyList<LayerImages> layers, Random random)
    {
        var count = layers[0].Residual.Length;
        var picks = new int[count];
        for (int j = 0; j < count; j++)
        {
            picks[j] = random.Next(count);
        }

        return layers.Select(l => l.RSquaredOf(picks)).ToArray();
    }

    // d_n = Σ_e (x_{n,e} − x̄_e)² from values [count, entries].
    private static double[] Deviations(float[] values, int count, int entries)
    {
        var mean = new double[entries];
        for (int n = 0; n < count; n++)
        {
            for (int e = 0; e < entries; e++)
            {
                mean[e] += values[((long)n * entries) + e] / (double)count;
            }
        }

        var deviations = new double[count];
        for (int n = 0; n < count; n++)
        {
            double d = 0;
            for (int e = 0; e < entries; e++)
            {
                var diff = values[((long)n * entries) + e] - mean[e];
                d += diff * diff;
            }

            deviations[n] = d;
        }

        return deviations;
    }
}
