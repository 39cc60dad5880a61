using System;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>Shape arithmetic and shared node patterns of the built-in exports.</summary>
internal static class OnnxShapes
{
    /// <summary>Entries per channel of one example: the product of the event shape after the channel axis.</summary>
    public static long Positions(OnnxValue value) => value.EventShape.Skip(1).Aggregate(1L, (a, b) => a * b);

    /// <summary>y = W·x per position: a 1×1 Conv for images <c>[N, C, H, W]</c>, MatMul with Wᵀ for vectors <c>[N, C]</c>.</summary>
    public static OnnxValue MixChannels(OnnxGraphBuilder graph, OnnxValue input, Tensor weight)
    {
        var c = weight.size(0);
        var output = input.EventShape.Count switch
        {
            1 => graph.Node("MatMul", [input.Name, graph.Constant("mixing_weight_t", weight.t())]),
            3 => graph.Node("Conv", [input.Name, graph.Constant("mixing_weight", weight.reshape(c, c, 1, 1))], OnnxAttributeValue.Of("kernel_shape", [1, 1])),
            _ => throw new ArgumentException($"Channel mixing exports vectors [N, C] or images [N, C, H, W], got {input}.", nameof(input)),
        };
        return new OnnxValue(output, input.EventShape);
    }

    /// <summary>The output shape of a 2-D convolution of <paramref name="input"/>.</summary>
    public static long[] ConvShape(OnnxValue input, long outputChannels, long[] kernel, long[] stride, long[] padding)
    {
        if (input.EventShape.Count != 3)
        {
            throw new ArgumentException($"A 2-D convolution exports images [N, C, H, W], got {input}.", nameof(input));
        }

        return [outputChannels, ((input.EventShape[1] + (2 * padding[0]) - kernel[0]) / stride[0]) + 1, ((input.EventShape[2] + (2 * padding[1]) - kernel[1]) / stride[1]) + 1];
    }

    /// <summary>A Conv node with a float32 weight (and bias, if any) baked as constants.</summary>
    public static OnnxValue Conv(OnnxGraphBuilder graph, OnnxValue input, Tensor weight, Tensor? bias, long[] stride, long[] padding)
    {
        long[] kernel = [weight.size(2), weight.size(3)];
        string[] inputs = bias is null
            ? [input.Name, graph.Constant("conv_weight", weight)]
            : [input.Name, graph.Constant("conv_weight", weight), graph.Constant("conv_bias", bias)];
        var output = graph.Node(
            "Conv",
            inputs,
            OnnxAttributeValue.Of("kernel_shape", kernel),
            OnnxAttributeValue.Of("strides", stride),
            OnnxAttributeValue.Of("pads", [padding[0], padding[1], padding[0], padding[1]]));
        return new OnnxValue(output, ConvShape(input, weight.size(0), kernel, stride, padding));
    }

    /// <summary>An element-wise unary node (Relu, Tanh, …) keeping the shape.</summary>
    public static OnnxValue Unary(OnnxGraphBuilder graph, string opType, OnnxValue input, params OnnxAttributeValue[] attributes) =>
        new(graph.Node(opType, [input.Name], attributes), input.EventShape);

    /// <summary>An element-wise binary node keeping <paramref name="first"/>'s shape.</summary>
    public static OnnxValue Binary(OnnxGraphBuilder graph, string opType, OnnxValue first, string second) =>
        new(graph.Node(opType, [first.Name, second]), first.EventShape);

    /// <summary>Concat along the channel axis.</summary>
    public static OnnxValue ConcatChannels(OnnxGraphBuilder graph, OnnxValue first, OnnxValue second) =>
        new(graph.Node("Concat", [first.Name, second.Name], OnnxAttributeValue.Of("axis", 1)), [first.EventShape[0] + second.EventShape[0], .. first.EventShape.Skip(1)]);
}
