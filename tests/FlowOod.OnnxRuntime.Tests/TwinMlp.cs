using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// A small TorchSharp MLP, [N, 1, 4, 4] → Flatten → Linear(16, 8) → ReLU ("embedding") → Linear(8, 3) → logits, trained
/// a few SGD steps on synthetic dark images, and its ONNX twin written by <see cref="OnnxWriter"/> from the same weights:
/// Flatten → Gemm(transB) → Relu → Gemm(transB), opset 17, ir_version 8, batch dimension "N".
/// </summary>
internal sealed class TwinMlp : IDisposable
{
    // Cached Scalars: TorchSharp frees a temporary one in its finalizer, possibly during the native call (docs/design.md).
    private static readonly Scalar Half = 0.5.ToScalar();
    private static readonly Scalar InitScale = 0.8.ToScalar();
    private static readonly Scalar MinusLearningRate = (-0.5).ToScalar();
    private static readonly Scalar Dark = 0.3.ToScalar();

    private TwinMlp(nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor> trunk, Tensor[] weights)
    {
        Model = model;
        Trunk = trunk;
        Weights = weights;
    }

    /// <summary>The TorchSharp classifier (evaluation mode).</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Flatten → fc1 → ReLU of <see cref="Model"/> (shares its weights): the embedding [N, 8].</summary>
    public nn.Module<Tensor, Tensor> Trunk { get; }

    // fc1.weight [8, 16], fc1.bias [8], head.weight [3, 8], head.bias [3].
    private Tensor[] Weights { get; }

    /// <summary>Dark random images [n, 1, 4, 4] in [0, 0.3) drawn from a generator seeded with <paramref name="seed"/>.</summary>
    public static Tensor Data(long n, long seed)
    {
        using var generator = new Generator((ulong)seed);
        return rand([n, 1, 4, 4], generator: generator).mul_(Dark);
    }

    /// <summary>A twin initialised from <paramref name="seed"/> and trained <paramref name="steps"/> full-batch SGD steps.</summary>
    public static TwinMlp Train(long seed, int steps = 30)
    {
        var fc1 = nn.Linear(16, 8);
        var head = nn.Linear(8, 3);
        var trunk = nn.Sequential(("flatten", nn.Flatten()), ("fc1", fc1), ("relu", nn.ReLU()));
        var model = nn.Sequential(("trunk", trunk), ("head", head));
        Tensor[] weights = [fc1.weight!, fc1.bias!, head.weight!, head.bias!];
        using (var scope = NewDisposeScope())
        {
            using var generator = new Generator((ulong)seed);
            using (no_grad())
            {
                foreach (var weight in weights)
                {
                    weight.copy_(rand(weight.shape, generator: generator).sub_(Half).mul_(InitScale));
                }
            }

            var inputs = Data(256, seed + 1000);
            var labels = inputs.reshape(256, 16).narrow(1, 0, 3).argmax(1);
            model.train();
            for (int step = 0; step < steps; step++)
            {
                using var stepScope = NewDisposeScope();
                model.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(inputs), labels);
                loss.backward();
                using (no_grad())
                {
                    foreach (var weight in weights)
                    {
                        weight.add_(weight.grad!, MinusLearningRate);
                    }
                }
            }
        }

        model.eval();
        return new TwinMlp(model, trunk, weights);
    }

    /// <summary>
    /// The ONNX twin: input "input" [N, 1, 4, 4], outputs "logits" [N, 3] and, when <paramref name="embeddingOutput"/>,
    /// "embedding" [N, 8]; with <paramref name="embeddingValueInfo"/> the graph's value_info types "embedding". The batch
    /// dimension is <paramref name="batch"/>: a name (symbolic) or a number (fixed).
    /// </summary>
    public byte[] Onnx(bool embeddingOutput, bool embeddingValueInfo = false, object? batch = null)
    {
        batch ??= "N";
        var values = Weights.Select(w => w.detach().cpu().contiguous().data<float>().ToArray()).ToArray();
        var nodes = new[]
        {
            OnnxWriter.Node("Flatten", "flatten", ["input"], ["flat"], OnnxWriter.IntAttribute("axis", 1)),
            OnnxWriter.Node("Gemm", "fc1", ["flat", "fc1.weight", "fc1.bias"], ["hidden"], OnnxWriter.IntAttribute("transB", 1)),
            OnnxWriter.Node("Relu", "relu", ["hidden"], ["embedding"]),
            OnnxWriter.Node("Gemm", "head", ["embedding", "head.weight", "head.bias"], ["logits"], OnnxWriter.IntAttribute("transB", 1)),
        };
        var initializers = new[]
        {
            OnnxWriter.Tensor("fc1.weight", values[0], 8, 16),
            OnnxWriter.Tensor("fc1.bias", values[1], 8),
            OnnxWriter.Tensor("head.weight", values[2], 3, 8),
            OnnxWriter.Tensor("head.bias", values[3], 3),
        };
        var outputs = embeddingOutput
            ? new[] { OnnxWriter.ValueInfo("logits", batch, 3), OnnxWriter.ValueInfo("embedding", batch, 8) }
            : [OnnxWriter.ValueInfo("logits", batch, 3)];
        var graph = OnnxWriter.Graph(
            "twin_mlp",
            nodes,
            initializers,
            [OnnxWriter.ValueInfo("input", batch, 1, 4, 4)],
            outputs,
            embeddingValueInfo ? [OnnxWriter.ValueInfo("embedding", batch, 8)] : null);
        return OnnxWriter.Model(graph);
    }

    public void Dispose() => Model.Dispose();
}
