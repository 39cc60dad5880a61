using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>
/// The coupling-layer view of Kirichenko et al. (2020, Sec. 6): for every coupling layer of a flow, what it saw,
/// predicted (s, t) and produced for given images, in image layout (see <see cref="CouplingLayerTrace"/>).
/// </summary>
/// <remarks>
/// The flow's forward pass is run step by step by FlowOod itself (no hooks, nothing written on any module): each
/// coupling's output is computed by the coupling's own code, so the last layer's output leads to exactly the latent of
/// <see cref="NormalizingFlow.Transform"/>.Forward. Draw one in-distribution and one OOD image through it to compare.
/// </remarks>
public static class CouplingView
{
    /// <summary>Runs <paramref name="images"/> through <paramref name="flow"/> and records every coupling layer.</summary>
    /// <param name="flow">A flow composed of FlowOod's bijectors; its ActNorm layers, if any, must be initialised.</param>
    /// <param name="images">x, <c>[N, eventShape...]</c>, valid input of the flow (a few images: every layer keeps six
    /// tensors of the batch's size).</param>
    /// <param name="noise">The dequantization noise (e.g. <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="statistics">The BatchNorm statistics (default <see cref="BatchNormStatistics.Running"/>; the flow itself
    /// is never switched, see <see cref="BatchNormStatistics"/>).</param>
    /// <returns>One trace per coupling layer, in forward order; dispose it.</returns>
    /// <exception cref="ArgumentException">The images are not valid input of the flow (shape, dtype, NaN, range).</exception>
    /// <exception cref="NotSupportedException">The flow holds a bijector FlowOod does not know, or a copy is needed and
    /// cannot be made (see <see cref="BatchNormStatistics"/>).</exception>
    public static CouplingTrace Trace(
        NormalizingFlow flow, Tensor images, ScoringNoise noise, BatchNormStatistics statistics = BatchNormStatistics.Running)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(noise);
        AnalysisFlows.CheckStatistics(statistics);
        FlowStructure.CheckSupported(flow.Transform);
        flow.ValidateInput(images, nameof(images));
        return AnalysisFlows.Query(flow, statistics, model =>
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var source = noise.Open();
            var layers = new List<CouplingLayerTrace>();
            try
            {
                Record(model, images, source, layers);
            }
            catch
            {
                layers.ForEach(layer => layer.Dispose());
                throw;
            }

            return new CouplingTrace(layers);
        });
    }

    private static void Record(NormalizingFlow model, Tensor images, NoiseSource noise, List<CouplingLayerTrace> layers) =>
        FlowStructure.Walk(model.Transform, images, noise, visit =>
        {
            var dtype = visit.Input.dtype;
            Tensor MaskInImageLayout(bool condition) =>
                visit.Layout.ToEvent(visit.Layer.MaskAsValues(condition, dtype).unsqueeze(0)).squeeze(0).gt(ScalarMath.Half);

            var tensors = new[]
            {
                visit.Layout.ToEvent(visit.Input),
                visit.Layout.ToEvent(visit.Output),
                visit.LogScale is { } s ? visit.Layout.ToEvent(s) : null,
                visit.Shift is { } t ? visit.Layout.ToEvent(t) : null,
                MaskInImageLayout(condition: true),
                MaskInImageLayout(condition: false),
            };
            foreach (var tensor in tensors)
            {
                tensor?.MoveToOuterDisposeScope();
            }

            layers.Add(new CouplingLayerTrace(
                visit.Number, visit.Scale, visit.Layer.Mask.EventShape.ToArray(), tensors[0]!, tensors[1]!, tensors[2], tensors[3], tensors[4]!, tensors[5]!));
        });
}
