using System;
using FlowOod.Onnx;

// The ONNX export of the scale-activation presets (kept out of the Bijectors folder: Onnx is a layer above it).
namespace FlowOod.Bijectors;

/// <content>ONNX export of the three presets: s as a function of ŝ, node for node their <c>LogScale</c>.</content>
public abstract partial class ScaleActivation
{
    private sealed partial class SoftClampScale : IOnnxExportableScaleActivation
    {
        public string ExportLogScale(OnnxGraphBuilder graph, OnnxValue raw, string? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(graph);
            ArgumentNullException.ThrowIfNull(raw);
            var angle = graph.Node("Atan", [graph.Node("Div", [raw.Name, graph.Scalar(bound)])]);
            return graph.Node("Mul", [angle, graph.Scalar(bound * 2.0 / Math.PI)]);
        }
    }

    private sealed partial class SigmoidScale : IOnnxExportableScaleActivation
    {
        public string ExportLogScale(OnnxGraphBuilder graph, OnnxValue raw, string? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(graph);
            ArgumentNullException.ThrowIfNull(raw);
            var shifted = graph.Node("Add", [raw.Name, graph.Scalar(2.0)]);
            return graph.Node("Neg", [graph.Node("Softplus", [graph.Node("Neg", [shifted])])]);
        }
    }

    private sealed partial class TanhScale : IOnnxExportableScaleActivation
    {
        public string ExportLogScale(OnnxGraphBuilder graph, OnnxValue raw, string? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(graph);
            ArgumentNullException.ThrowIfNull(raw);
            ArgumentNullException.ThrowIfNull(learnableScale);
            return graph.Node("Mul", [graph.Node("Tanh", [raw.Name]), learnableScale]);
        }
    }
}
