using System;
using System.Linq;
using FlowOod.Onnx;
using static TorchSharp.torch;

// The ONNX export of FlowOod's layers inside st-networks and bottlenecks (evaluation mode, float32 constants).
namespace FlowOod.Layers
{
    /// <content>ONNX export: Conv with the layer's stride and symmetric padding.</content>
    internal sealed partial class Conv2dLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input) => OnnxShapes.Conv(graph, input, weight, bias, stride, padding);
    }

    /// <content>ONNX export: BatchNormalization with the running statistics (evaluation mode), ε = 1e-5.</content>
    internal sealed partial class BatchNorm2dLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            var output = graph.Node(
                "BatchNormalization",
                [input.Name, graph.Constant("bn_weight", weight), graph.Constant("bn_bias", bias), graph.Constant("bn_mean", running_mean), graph.Constant("bn_var", running_var)],
                OnnxAttributeValue.Of("epsilon", (float)Epsilon));
            return new OnnxValue(output, input.EventShape);
        }
    }

    /// <content>ONNX export: Gemm(x, W, b) with transB = 1, y = x·Wᵀ + b.</content>
    internal sealed partial class LinearLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            if (input.EventShape.Count != 1)
            {
                throw new ArgumentException($"A linear layer exports vectors [N, F], got {input}.", nameof(input));
            }

            string[] inputs = bias is null
                ? [input.Name, graph.Constant("linear_weight", weight)]
                : [input.Name, graph.Constant("linear_weight", weight), graph.Constant("linear_bias", bias)];
            return new OnnxValue(graph.Node("Gemm", inputs, OnnxAttributeValue.Of("transB", 1)), [weight.size(0)]);
        }
    }

    /// <content>ONNX export: ConvTranspose with the layer's stride and the output padding that reaches a target size.</content>
    internal sealed partial class ConvTranspose2dLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input) => ExportModule(graph, input, outputSize: null);

        /// <summary>The export of <c>forward(input, outputSize)</c> (null: no output padding).</summary>
        internal OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input, long[]? outputSize)
        {
            if (input.EventShape.Count != 3)
            {
                throw new ArgumentException($"A transposed convolution exports images [N, C, H, W], got {input}.", nameof(input));
            }

            var sizes = new long[2];
            var outputPadding = new long[2];
            for (int d = 0; d < 2; d++)
            {
                var smallest = ((input.EventShape[d + 1] - 1) * stride[d]) + kernel[d];
                sizes[d] = outputSize?[d] ?? smallest;
                outputPadding[d] = sizes[d] - smallest;
            }

            string[] inputs = bias is null
                ? [input.Name, graph.Constant("deconv_weight", weight)]
                : [input.Name, graph.Constant("deconv_weight", weight), graph.Constant("deconv_bias", bias)];
            var output = graph.Node(
                "ConvTranspose",
                inputs,
                OnnxAttributeValue.Of("kernel_shape", kernel),
                OnnxAttributeValue.Of("strides", stride),
                OnnxAttributeValue.Of("output_padding", outputPadding));
            return new OnnxValue(output, [weight.size(1), sizes[0], sizes[1]]);
        }
    }
}

namespace FlowOod.Conditioners
{
    /// <content>ONNX export: Conv with W = V·g/‖V‖ computed once by the layer's own expression.</content>
    internal sealed partial class WeightNormConv2d : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var weight = weight_v.mul(weight_g.div(Norms(weight_v)));
            return OnnxShapes.Conv(graph, input, weight, bias, [1, 1], padding);
        }
    }
}

namespace FlowOod.Bottlenecks
{
    /// <content>ONNX export: Flatten, encode, decode, Reshape to the feature shape.</content>
    internal sealed partial class LinearBottleneckLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            var flat = new OnnxValue(graph.Node("Flatten", [input.Name], OnnxAttributeValue.Of("axis", 1)), [Features]);
            var back = graph.Module(decode, graph.Module(encode, flat));
            long[] target = [0, .. featureShape];
            return new OnnxValue(graph.Node("Reshape", [back.Name, graph.Int64Constant("bottleneck_shape", target, target.Length)]), featureShape);
        }
    }
}
