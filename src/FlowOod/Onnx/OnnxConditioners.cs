using System;
using System.Linq;
using FlowOod.Onnx;
using static FlowOod.Onnx.OnnxShapes;

// The ONNX export of FlowOod's st-networks, node for node their forward passes in evaluation mode (dropout off).
namespace FlowOod.Conditioners;

/// <content>ONNX export of the ResNet st-network (with or without a bottleneck).</content>
internal sealed partial class ResNetConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var normalized = graph.Module(in_norm, input);
        var both = ConcatChannels(graph, normalized, Unary(graph, "Neg", normalized));
        var x = graph.Module(in_conv, Unary(graph, "Relu", both));
        if (bottleneck is not null)
        {
            for (int i = 0; i < blocks.Count; i++)
            {
                if (i == blocks.Count / 2)
                {
                    x = graph.Module(bottleneck, x);
                }

                x = graph.Module(blocks[i], x);
            }

            if (blocks.Count == 0)
            {
                x = graph.Module(bottleneck, x);
            }

            return graph.Module(out_conv, Unary(graph, "Relu", graph.Module(out_norm, x)));
        }

        var sum = graph.Module(in_skip!, x);
        for (int i = 0; i < blocks.Count; i++)
        {
            x = graph.Module(blocks[i], x);
            sum = Binary(graph, "Add", sum, graph.Module(skips![i], x).Name);
        }

        return graph.Module(out_conv, Unary(graph, "Relu", graph.Module(out_norm, sum)));
    }

    /// <content>ONNX export: out_conv(relu(out_norm(in_conv(relu(in_norm(x)))))) + x.</content>
    private sealed partial class ResidualBlock : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            var a = Unary(graph, "Relu", graph.Module(in_norm, input));
            var c = Unary(graph, "Relu", graph.Module(out_norm, graph.Module(in_conv, a)));
            return Binary(graph, "Add", graph.Module(out_conv, c), input.Name);
        }
    }
}

/// <content>ONNX export: conv 3×3, ReLU, conv 1×1, ReLU, conv 3×3.</content>
internal sealed partial class GlowConvConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var x = Unary(graph, "Relu", graph.Module(in_conv, input));
        x = Unary(graph, "Relu", graph.Module(mid_conv, x));
        return graph.Module(out_conv, x);
    }
}

/// <content>ONNX export: Gemm + ReLU per hidden layer (dropout is off in evaluation), then the output Gemm.</content>
internal sealed partial class MlpConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        if (input.EventShape.Count != 1 || input.EventShape[0] != inputFeatures)
        {
            throw new ArgumentException($"The MLP st-network exports [N, {inputFeatures}], got {input}.", nameof(input));
        }

        var x = input;
        foreach (var layer in hidden)
        {
            x = Unary(graph, "Relu", graph.Module(layer, x));
        }

        return graph.Module(out_linear, x);
    }
}

/// <content>ONNX export of the highway st-network: x ← h(x) ⊙ g + x ⊙ (1 − g), g = sigmoid(gate(x)).</content>
internal sealed partial class HighwayConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var x = graph.Module(in_conv, input);
        foreach (var layer in layers)
        {
            x = graph.Module(layer, x);
        }

        return graph.Module(out_conv, x);
    }

    /// <content>ONNX export of one highway layer.</content>
    private sealed partial class HighwayLayer : IOnnxExportableModule
    {
        public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
        {
            var gate = Unary(graph, "Sigmoid", graph.Module(gate_conv, input));
            var carried = graph.Node("Mul", [input.Name, graph.Node("Sub", [graph.Scalar(1.0), gate.Name])]);
            var transformed = Binary(graph, "Mul", graph.Module(h_conv, input), gate.Name);
            return Binary(graph, "Add", transformed, carried);
        }
    }
}

/// <content>ONNX export of the local st-network: conv(cat(x, −x)), residual 1×1 blocks, ReLUs.</content>
internal sealed partial class LocalConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var x = Unary(graph, "Relu", graph.Module(in_conv, ConcatChannels(graph, input, Unary(graph, "Neg", input))));
        for (int i = 0; i < block_convs.Count; i += 2)
        {
            var inner = Unary(graph, "Relu", graph.Module(block_convs[i], x));
            x = Unary(graph, "Relu", Binary(graph, "Add", graph.Module(block_convs[i + 1], inner), x.Name));
        }

        return graph.Module(out_conv, x);
    }
}

/// <content>ONNX export of the autoencoder st-network: strided convs and LeakyReLU, the bottleneck, transposed convs.</content>
internal sealed partial class AutoencoderConditioner : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var slope = OnnxAttributeValue.Of("alpha", (float)LeakySlope);
        var x = input;
        foreach (var conv in encoder)
        {
            x = Unary(graph, "LeakyRelu", graph.Module(conv, x), slope);
        }

        x = graph.Module(bottleneck, x);
        for (int k = 0; k < decoder.Count; k++)
        {
            x = Unary(graph, "LeakyRelu", decoder[k].ExportModule(graph, x, outputSizes[k]), slope);
        }

        return out_conv.ExportModule(graph, x, outputSizes[3]);
    }
}
