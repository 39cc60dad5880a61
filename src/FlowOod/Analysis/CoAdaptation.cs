using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>
/// Coupling-layer co-adaptation (Kirichenko et al. 2020, Sec. 6): how well each coupling layer's st-network predicts the
/// entries it transforms from the entries it conditions on, as one number per layer.
/// </summary>
/// <remarks>
/// <para>An affine coupling maps its transformed entries x_change to (x_change + t) ⊙ exp(s) with t = t(x_id) from the
/// conditioning entries. Where t ≈ −x_change the output is ≈ 0, where the Gaussian prior's density is highest, so a
/// layer that predicts its masked half from the other half gives any image with such structure a high likelihood. The
/// paper's demonstration is the 3-layer horizontal-mask model
/// (<see cref="Models.SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers"/>: top → bottom, bottom → top,
/// top → bottom): trained on Fashion-MNIST, its first layer cannot predict the bottom half of an MNIST digit from the
/// top half, yet the second and third predict their halves well on MNIST too, because the first layer has encoded the
/// top half into the bottom half for the second to decode. Compare <see cref="Measure"/> on in-distribution and OOD
/// sets layer by layer.</para>
/// </remarks>
public static class CoAdaptation
{
    /// <summary>
    /// For every coupling layer of <paramref name="flow"/> that has a shift, the fraction of the variance of its
    /// transformed entries that −t explains, on the layer's own inputs for <paramref name="images"/>.
    /// </summary>
    /// <remarks>
    /// <para>Definition. For layer k, let x_{n,i} be its input (the output of everything before it, including the
    /// dequantization and logit preprocessing) at transformed entry i of image n, t_{n,i} its shift there, N the number of
    /// images and x̄_i = (1/N) Σ_n x_{n,i}. Then</para>
    /// <para>R²_k = 1 − Σ_{n,i} (x_{n,i} + t_{n,i})² / Σ_{n,i} (x_{n,i} − x̄_i)²,</para>
    /// <para>the coefficient of determination of the prediction x̂ = −t against the per-entry mean of the set: 1 when
    /// t = −x_change exactly, about 0 when t is no better than the mean image (t = 0 on centred data), below 0 when
    /// worse. The sums run over all images and the layer's transformed entries (the transform mask); they are
    /// accumulated in float64, batch by batch.</para>
    /// <para>Layers without a shift (a coupling defined outside FlowOod) are left out.</para>
    /// </remarks>
    /// <param name="flow">A flow composed of FlowOod's bijectors; its ActNorm layers, if any, must be initialised.</param>
    /// <param name="images">The image set, <c>[N, eventShape...]</c> with N ≥ 2, valid input of the flow.</param>
    /// <param name="noise">The dequantization noise (e.g. <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="batchSize">Images per forward pass, ≥ 1. Default 256.</param>
    /// <param name="statistics">The BatchNorm statistics (default <see cref="BatchNormStatistics.Running"/>; with
    /// <see cref="BatchNormStatistics.Batch"/> each batch of <paramref name="batchSize"/> is normalised by itself).</param>
    /// <returns>One result per coupling layer with a shift, in forward order.</returns>
    /// <exception cref="ArgumentException">Fewer than 2 images, or they are not valid input of the flow.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="NotSupportedException">The flow holds a bijector FlowOod does not know, or a copy is needed and
    /// cannot be made (see <see cref="BatchNormStatistics"/>).</exception>
    public static IReadOnlyList<CouplingPrediction> Measure(
        NormalizingFlow flow,
        Tensor images,
        ScoringNoise noise,
        int batchSize = 256,
        BatchNormStatistics statistics = BatchNormStatistics.Running)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        AnalysisFlows.CheckStatistics(statistics);
        FlowStructure.CheckSupported(flow.Transform);
        flow.ValidateInput(images, nameof(images));
        var count = images.size(0);
        if (count < 2)
        {
            throw new ArgumentException($"The co-adaptation measure needs at least 2 images (a variance), got {count}.", nameof(images));
        }

        return AnalysisFlows.Query(flow, statistics, model =>
        {
            using var noGrad = no_grad();
            using var source = noise.Open();
            var sums = new SortedDictionary<int, Sums>();
            try
            {
                for (long start = 0; start < count; start += batchSize)
                {
                    using var scope = NewDisposeScope();
                    var batch = images.narrow(0, start, Math.Min(batchSize, count - start));
                    FlowStructure.Walk(model.Transform, batch, source, visit =>
                    {
                        if (visit.Shift is { } shift)
                        {
                            if (!sums.TryGetValue(visit.Number, out var layerSums))
                            {
                                layerSums = new Sums(visit.Name, visit.Number, visit.Scale, visit.Layer.MaskAsValues(condition: false, ScalarType.Float64));
                                sums.Add(visit.Number, layerSums);
                            }

                            layerSums.Add(visit.Input, shift);
                        }
                    });
                }

                return sums.Values.Select(s => s.Result(count)).ToArray();
            }
            finally
            {
                foreach (var layerSums in sums.Values)
                {
                    layerSums.Dispose();
                }
            }
        });
    }

    // Σ_n x, Σ_n x² per entry (zero outside the transform mask) and Σ_{n,i} (x + t)² of one layer, in float64.
    private sealed class Sums : IDisposable
    {
        private readonly string name;
        private readonly int number;
        private readonly int scale;
        private readonly Tensor transformMask;
        private readonly Tensor sum;
        private readonly Tensor sumOfSquares;
        private readonly Tensor residualSquares;

        public Sums(string name, int number, int scale, Tensor transformMask)
        {
            this.name = name;
            this.number = number;
            this.scale = scale;
            this.transformMask = transformMask.DetachFromDisposeScope();
            sum = zeros_like(transformMask).DetachFromDisposeScope();
            sumOfSquares = zeros_like(transformMask).DetachFromDisposeScope();
            residualSquares = zeros([], dtype: ScalarType.Float64, device: transformMask.device).DetachFromDisposeScope();
        }

        // Runs inside the caller's batch scope: temporaries (and the in-place ops' second wrappers) are freed with it.
        public void Add(Tensor input, Tensor shift)
        {
            // sum(0L), not sum(0): a literal 0 converts to ScalarType and would pick the dtype overload.
            var x = input.to(ScalarType.Float64).mul(transformMask);
            sum.PlusInPlace(x.sum(0L));
            sumOfSquares.PlusInPlace(x.Squared().sum(0L));
            residualSquares.PlusInPlace(x.Plus(shift.to(ScalarType.Float64).mul(transformMask)).Squared().sum());
        }

        public CouplingPrediction Result(long images)
        {
            using var scope = NewDisposeScope();
            var entries = (long)transformMask.sum().item<double>();
            var squaredDeviations = sumOfSquares.sub(sum.Squared().DivideInPlace(images)).sum().item<double>();
            var residual = residualSquares.item<double>();
            var total = (double)entries * images;
            var variance = Math.Max(squaredDeviations, 0) / total;
            var residualMeanSquare = residual / total;
            var rSquared = variance > 0 ? 1 - (residualMeanSquare / variance) : double.NaN;
            return new CouplingPrediction(name, number, scale, rSquared, residualMeanSquare, variance, entries, images);
        }

        public void Dispose()
        {
            transformMask.Dispose();
            sum.Dispose();
            sumOfSquares.Dispose();
            residualSquares.Dispose();
        }
    }
}
