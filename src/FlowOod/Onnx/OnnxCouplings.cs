using System;
using System.Linq;
using FlowOod.Onnx;
using static TorchSharp.torch;

// The ONNX export of FlowOod's coupling layers: the mask plumbing of CouplingLayer.Apply and the element-wise maps of
// AffineCoupling and AdditiveCoupling, in the same order of operations.
namespace FlowOod.Bijectors;

/// <content>
/// ONNX export of the mask plumbing. Channel-structured masks: Gather the conditioning and transformed channels, run the
/// st-network on the former, and put the changed channels back with one Gather over Concat(x, changed). Other masks:
/// the st-network sees x ⊙ b (a constant 0/1 mask), the output is Where(m, changed, x) and the log-scale is s ⊙ m.
/// </content>
public abstract partial class CouplingLayer : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        using var scope = NewDisposeScope();
        if (!input.EventShape.SequenceEqual(eventShape))
        {
            throw new ArgumentException($"{GetType().Name} was built for [N, {string.Join(", ", eventShape)}], the export reached it with {input}.", nameof(input));
        }

        OnnxValue output;
        string? logScale;
        if (channelStructured)
        {
            var conditionIndices = condition_channels.data<long>().ToArray();
            var transformIndices = transform_channels.data<long>().ToArray();
            long[] rest = [.. eventShape.Skip(1)];
            var conditioning = Gather(graph, input, "condition_channels", condition_channels, [conditionIndices.Length, .. rest]);
            var changing = Gather(graph, input, "transform_channels", transform_channels, [transformIndices.Length, .. rest]);
            var conditionerOutput = graph.Module(st_net, conditioning);
            var (changed, s) = ExportCouple(graph, changing, conditionerOutput);

            // Channel c of the output is channel c of x, or, if transformed, its slot in `changed` (after x's C channels).
            var channels = eventShape[0];
            var source = Enumerable.Range(0, checked((int)channels)).Select(c => (long)c).ToArray();
            for (int k = 0; k < transformIndices.Length; k++)
            {
                source[transformIndices[k]] = channels + k;
            }

            var both = graph.Node("Concat", [input.Name, changed.Name], OnnxAttributeValue.Of("axis", 1));
            output = new OnnxValue(graph.Node("Gather", [both, graph.Int64Constant("coupling_merge", source, source.Length)], OnnxAttributeValue.Of("axis", 1)), eventShape);
            logScale = s;
        }
        else
        {
            var masked = graph.Node("Mul", [input.Name, graph.Constant("condition_mask", condition_mask.to(ScalarType.Float32))]);
            var conditionerOutput = graph.Module(st_net, new OnnxValue(masked, eventShape));
            var (changed, s) = ExportCouple(graph, input, conditionerOutput);
            output = new OnnxValue(graph.Node("Where", [graph.Constant("transform_mask", transform_mask), changed.Name, input.Name]), eventShape);
            logScale = s is null ? null : graph.Node("Mul", [s, graph.Constant("transform_mask_values", transform_mask.to(ScalarType.Float32))]);
        }

        return new OnnxBijectorOutput(output, logScale is null ? null : graph.SumPerExample(logScale));
    }

    /// <summary>
    /// The ONNX nodes of <see cref="Couple"/> in the forward direction: the changed entries and the log-scale s (null for
    /// a volume-preserving map). FlowOod's couplings override it; any other coupling is reported as not exportable (give
    /// it <see cref="IOnnxExportable"/> instead).
    /// </summary>
    private protected virtual (OnnxValue Changed, string? LogScale) ExportCouple(OnnxGraphBuilder graph, OnnxValue changing, OnnxValue conditionerOutput) =>
        throw OnnxGraphBuilder.Unsupported(this, nameof(IOnnxExportable));

    private static OnnxValue Gather(OnnxGraphBuilder graph, OnnxValue input, string hint, Tensor indices, long[] shape) =>
        new(graph.Node("Gather", [input.Name, graph.Constant(hint, indices)], OnnxAttributeValue.Of("axis", 1)), shape);
}

/// <content>ONNX export: (ŝ, t) = Split(st(·)), s = a(ŝ), y = (x + t) ⊙ exp(s).</content>
public sealed partial class AffineCoupling
{
    /// <inheritdoc/>
    private protected override (OnnxValue Changed, string? LogScale) ExportCouple(OnnxGraphBuilder graph, OnnxValue changing, OnnxValue conditionerOutput)
    {
        var ct = TransformedChannels;
        var halves = graph.Node("Split", [conditionerOutput.Name, graph.Int64Constant("split", [ct, ct], 2)], 2, OnnxAttributeValue.Of("axis", 1));
        long[] halfShape = [ct, .. conditionerOutput.EventShape.Skip(1)];
        if (activation is not IOnnxExportableScaleActivation exportable)
        {
            throw OnnxGraphBuilder.Unsupported(activation, nameof(IOnnxExportableScaleActivation));
        }

        var learnable = scale is null ? null : graph.Constant("coupling_scale", scale);
        var s = exportable.ExportLogScale(graph, new OnnxValue(halves[0], halfShape), learnable);
        var shifted = graph.Node("Add", [changing.Name, halves[1]]);
        var changed = graph.Node("Mul", [shifted, graph.Node("Exp", [s])]);
        return (new OnnxValue(changed, changing.EventShape), s);
    }
}

/// <content>ONNX export: y = x + t.</content>
public sealed partial class AdditiveCoupling
{
    /// <inheritdoc/>
    private protected override (OnnxValue Changed, string? LogScale) ExportCouple(OnnxGraphBuilder graph, OnnxValue changing, OnnxValue conditionerOutput) =>
        (new OnnxValue(graph.Node("Add", [changing.Name, conditionerOutput.Name]), changing.EventShape), null);
}
