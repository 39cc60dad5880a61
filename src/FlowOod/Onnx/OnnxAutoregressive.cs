using System.Linq;
using FlowOod.Onnx;
using static FlowOod.Onnx.OnnxShapes;
using static TorchSharp.torch;

// The ONNX export of the pixel-autoregressive layer: its forward (scoring) direction is one network pass, so it exports
// as plain convolutions whose masked weights are baked in as constants.
namespace FlowOod.Bijectors
{
    /// <content>ONNX export: (ŝ, t) = net(x) (flipped in and out for reverse order), z = (x + t)·exp(s), LogDet = Σ s.</content>
    public sealed partial class AutoregressiveAffine : IOnnxBuiltInBijector
    {
        OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
        {
            var ordered = reverse ? Flip(graph, input) : input;
            var output = graph.Module(net, ordered);
            if (reverse)
            {
                output = Flip(graph, output);
            }

            var channels = eventShape[0];
            var halves = graph.Node("Split", [output.Name, graph.Int64Constant("split", [channels, channels], 2)], 2, OnnxAttributeValue.Of("axis", 1));
            if (activation is not IOnnxExportableScaleActivation exportable)
            {
                throw OnnxGraphBuilder.Unsupported(activation, nameof(IOnnxExportableScaleActivation));
            }

            var learnable = scale is null ? null : graph.Constant("autoregressive_scale", scale);
            var s = exportable.ExportLogScale(graph, new OnnxValue(halves[0], input.EventShape), learnable);
            var shifted = graph.Node("Add", [input.Name, halves[1]]);
            var changed = graph.Node("Mul", [shifted, graph.Node("Exp", [s])]);
            return new OnnxBijectorOutput(new OnnxValue(changed, input.EventShape), graph.SumPerExample(s));
        }

        // Reverses rows and columns: Slice with step −1 on axes 2 and 3.
        private static OnnxValue Flip(OnnxGraphBuilder graph, OnnxValue value)
        {
            var flipped = graph.Node(
                "Slice",
                [
                    value.Name,
                    graph.Int64Constant("flip_start", [-1, -1], 2),
                    graph.Int64Constant("flip_end", [long.MinValue, long.MinValue], 2),
                    graph.Int64Constant("flip_axes", [2, 3], 2),
                    graph.Int64Constant("flip_steps", [-1, -1], 2),
                ]);
            return new OnnxValue(flipped, value.EventShape);
        }
    }
}

namespace FlowOod.Conditioners
{
    /// <content>ONNX export: Concat [x, −x], the masked convolutions, then the per-pixel layers as 1×1 Conv nodes.</content>
    internal sealed partial class CausalConditioner : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            var x = Unary(graph, "Relu", graph.Module(in_conv, ConcatChannels(graph, input, Unary(graph, "Neg", input))));
            foreach (var conv in context_convs)
            {
                x = Binary(graph, "Add", Unary(graph, "Relu", graph.Module(conv, x)), x.Name);
            }

            for (int i = 0; i < block_layers.Count; i += 2)
            {
                var inner = Unary(graph, "Relu", block_layers[i].ExportPerPixel(graph, x));
                x = Unary(graph, "Relu", Binary(graph, "Add", block_layers[i + 1].ExportPerPixel(graph, inner), x.Name));
            }

            return out_layer.ExportPerPixel(graph, x);
        }
    }
}

namespace FlowOod.Layers
{
    /// <content>ONNX export of a linear layer applied to every pixel's channels of <c>[N, C, H, W]</c>.</content>
    internal sealed partial class LinearLayer
    {
        /// <summary>The layer on each pixel's channel vector: a 1×1 Conv with weight <c>[out, in, 1, 1]</c>.</summary>
        internal OnnxValue ExportPerPixel(OnnxGraphBuilder graph, OnnxValue input)
        {
            using var scope = NewDisposeScope();
            var kernel = weight.detach().reshape(weight.size(0), weight.size(1), 1, 1);
            return Conv(graph, input, kernel, bias?.detach(), [1, 1], [0, 0]);
        }
    }

    /// <content>ONNX export: a Conv node whose weight is the masked weight (hidden entries are zeros).</content>
    internal sealed partial class CausalConv2dLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            using var scope = NewDisposeScope();
            var w = weight.detach();
            return Conv(graph, input, w.mul(Mask(kernelSize, includeCentre, w)), bias.detach(), [1, 1], padding);
        }
    }
}
