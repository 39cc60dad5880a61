using System;
using System.Linq;
using FlowOod.OnnxRuntime.Tests;

namespace FlowOod.Docs.Tests;

/// <summary>
/// The ONNX classifier of the walkthrough (ConsumerApp/OnnxWalkthrough.cs), written with the ONNX Runtime tests' writer:
/// input "input" [N, 1, 4, 4] → Flatten → Gemm(16 → 8) → Relu ("embedding", an inner value, not a graph output) →
/// Gemm(8 → 3) → output "logits" [N, 3]; opset 17. Weights from a seeded generator; the hidden biases (2.5) keep every
/// ReLU active on images with values in [0, 0.3), so the embedding of the walkthrough's dark images has full rank.
/// </summary>
internal static class WalkthroughModel
{
    public static byte[] Onnx()
    {
        var random = new Random(7);
        float[] Uniform(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var nodes = new[]
        {
            OnnxWriter.Node("Flatten", "flatten", ["input"], ["flat"], OnnxWriter.IntAttribute("axis", 1)),
            OnnxWriter.Node("Gemm", "fc1", ["flat", "fc1.weight", "fc1.bias"], ["hidden"], OnnxWriter.IntAttribute("transB", 1)),
            OnnxWriter.Node("Relu", "relu", ["hidden"], ["embedding"]),
            OnnxWriter.Node("Gemm", "head", ["embedding", "head.weight", "head.bias"], ["logits"], OnnxWriter.IntAttribute("transB", 1)),
        };
        var initializers = new[]
        {
            OnnxWriter.Tensor("fc1.weight", Uniform(8 * 16), 8, 16),
            OnnxWriter.Tensor("fc1.bias", Enumerable.Repeat(2.5f, 8).ToArray(), 8),
            OnnxWriter.Tensor("head.weight", Uniform(3 * 8), 3, 8),
            OnnxWriter.Tensor("head.bias", Uniform(3), 3),
        };
        var graph = OnnxWriter.Graph(
            "walkthrough_mlp",
            nodes,
            initializers,
            [OnnxWriter.ValueInfo("input", "N", 1, 4, 4)],
            [OnnxWriter.ValueInfo("logits", "N", 3)]);
        return OnnxWriter.Model(graph);
    }
}
