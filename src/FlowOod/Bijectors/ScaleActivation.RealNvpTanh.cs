using System;
using FlowOod.Components;
using FlowOod.Onnx;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <content>The RealNVP preset.</content>
public abstract partial class ScaleActivation
{
    /// <summary>s = σ ⊙ tanh(ŝ); stored as <c>{"type": "realNvpTanh"}</c>.</summary>
    [ComponentName("realNvpTanh")]
    private sealed class TanhScale : ScaleActivation, IComponent<TanhScale>, IOnnxExportableScaleActivation
    {
        public override bool UsesLearnableScale => true;

        public static TanhScale Read(ComponentReader reader) => (TanhScale)RealNvpTanh;

        public void Write(ComponentWriter writer)
        {
        }

        public override Tensor LogScale(Tensor raw, Tensor? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(raw);
            ArgumentNullException.ThrowIfNull(learnableScale);
            return raw.tanh().mul(learnableScale);
        }

        public string ExportLogScale(OnnxGraphBuilder graph, OnnxValue raw, string? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(graph);
            ArgumentNullException.ThrowIfNull(raw);
            ArgumentNullException.ThrowIfNull(learnableScale);
            return graph.Node("Mul", [graph.Node("Tanh", [raw.Name]), learnableScale]);
        }

        public override string ToString() => "RealNvpTanh";
    }
}
