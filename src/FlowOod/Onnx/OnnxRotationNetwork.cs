using System.Linq;
using FlowOod.Onnx;

namespace FlowOod.Scoring;

/// <content>ONNX export of the rotation network: the same layers, Relu, Flatten and Gemm; <c>[N, C, S, S]</c> → <c>[N, 4]</c>.</content>
internal sealed partial class RotationNetwork : IOnnxExportableModule
{
    public OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input)
    {
        var x = OnnxShapes.Unary(graph, "Relu", graph.Module(conv1, input));
        x = OnnxShapes.Unary(graph, "Relu", graph.Module(conv2, x));
        x = OnnxShapes.Unary(graph, "Relu", graph.Module(conv3, x));
        var flat = new OnnxValue(graph.Node("Flatten", [x.Name], OnnxAttributeValue.Of("axis", 1L)), [x.EventShape.Aggregate(1L, (a, b) => a * b)]);
        return graph.Module(logits, OnnxShapes.Unary(graph, "Relu", graph.Module(hidden, flat)));
    }
}
