using System;
using System.Linq;
using FlowOod.Onnx;

// The ONNX export of FlowOod's shape and preprocessing bijectors: the same maths as their ForwardCore, in float32.
namespace FlowOod.Bijectors;

/// <content>ONNX export: the steps in order, log-determinants summed in the same order as Forward.</content>
public sealed partial class Chain : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        var current = input;
        string? logDet = null;
        foreach (var step in steps)
        {
            var result = graph.Bijector(step, current);
            logDet = graph.AddLogDets(logDet, result.LogDet);
            current = result.Output;
        }

        return new OnnxBijectorOutput(current, logDet);
    }
}

/// <content>ONNX export at the bin centres (u = ½): y = (255·x + ½)/256, LogDet = D·log(255/256).</content>
public sealed partial class UniformDequantization : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        var scaled = graph.Node("Mul", [input.Name, graph.Scalar(255.0)]);
        var shifted = graph.Node("Add", [scaled, graph.Scalar(0.5)]);
        var output = graph.Node("Div", [shifted, graph.Scalar(256.0)]);
        var entries = input.EventShape.Aggregate(1L, (a, b) => a * b);
        return new OnnxBijectorOutput(new OnnxValue(output, input.EventShape), graph.PerExample(LogScale * entries));
    }
}

/// <content>
/// ONNX export: p = x·(1 − 2α) + α, y = log p − log(1 − p), LogDet = Σ |y| + 2·softplus(−|y|) + log(1 − 2α).
/// </content>
public sealed partial class Logit : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        var scaled = graph.Node("Mul", [input.Name, graph.Scalar(1 - (2 * alpha))]);
        var p = graph.Node("Add", [scaled, graph.Scalar(alpha)]);
        var complement = graph.Node("Sub", [graph.Scalar(1.0), p]);
        var output = graph.Node("Sub", [graph.Node("Log", [p]), graph.Node("Log", [complement])]);
        var magnitude = graph.Node("Abs", [output]);
        var softplus = graph.Node("Softplus", [graph.Node("Neg", [magnitude])]);
        var twice = graph.Node("Mul", [softplus, graph.Scalar(2.0)]);
        var perEntry = graph.Node("Add", [graph.Node("Add", [twice, magnitude]), graph.Scalar(Math.Log(1 - (2 * alpha)))]);
        return new OnnxBijectorOutput(new OnnxValue(output, input.EventShape), graph.SumPerExample(perEntry));
    }
}

/// <content>ONNX export: Reshape [N, C, H/2, 2, W/2, 2], Transpose (0, 1, 3, 5, 2, 4), Reshape [N, 4C, H/2, W/2].</content>
public sealed partial class Squeeze : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input) => new(Export(graph, input, inverse: false), null);

    /// <summary>The squeeze (or, <paramref name="inverse"/>, the unsqueeze) as ONNX nodes; the batch axis is copied (0 in Reshape).</summary>
    internal static OnnxValue Export(OnnxGraphBuilder graph, OnnxValue input, bool inverse)
    {
        if (input.EventShape.Count != 3)
        {
            throw new ArgumentException($"Squeeze exports images [N, C, H, W], got {input}.", nameof(input));
        }

        long c = input.EventShape[0], h = input.EventShape[1], w = input.EventShape[2];
        long[] split, perm, result;
        if (inverse)
        {
            (split, perm, result) = ([0, c / 4, 2, 2, h, w], [0, 1, 4, 2, 5, 3], [c / 4, h * 2, w * 2]);
        }
        else
        {
            (split, perm, result) = ([0, c, h / 2, 2, w / 2, 2], [0, 1, 3, 5, 2, 4], [c * 4, h / 2, w / 2]);
        }

        var reshaped = graph.Node("Reshape", [input.Name, graph.Int64Constant("squeeze_shape", split, 6)]);
        var transposed = graph.Node("Transpose", [reshaped], OnnxAttributeValue.Of("perm", perm));
        long[] target = [0, .. result];
        return new OnnxValue(graph.Node("Reshape", [transposed, graph.Int64Constant("squeeze_shape", target, 4)]), result);
    }
}

/// <content>ONNX export: Gather on the channel axis.</content>
public sealed partial class Permutation : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input) => new(Export(graph, input, inverse: false), null);

    internal OnnxValue Export(OnnxGraphBuilder graph, OnnxValue input, bool inverse)
    {
        var order = graph.Constant("permutation", inverse ? inverse_indices : indices);
        return new OnnxValue(graph.Node("Gather", [input.Name, order], OnnxAttributeValue.Of("axis", 1)), input.EventShape);
    }
}

/// <content>
/// ONNX export of the inverses whose maths is known in closed form: <see cref="Squeeze"/> (the unsqueeze),
/// <see cref="Permutation"/> and <see cref="InverseOf"/> (the inner forward). Any other inner bijector is named in a
/// <see cref="NotSupportedException"/>.
/// </content>
public sealed partial class InverseOf : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input) => inner switch
    {
        Squeeze => new(Squeeze.Export(graph, input, inverse: true), null),
        Permutation permutation => new(permutation.Export(graph, input, inverse: true), null),
        InverseOf twice => graph.Bijector(twice.Inner, input),
        _ => throw new NotSupportedException(
            $"InverseOf({inner.GetType().FullName}) cannot be exported to ONNX: only the inverses of Squeeze, Permutation and InverseOf are "
            + "built in. Implement FlowOod.Onnx.IOnnxExportable on a bijector of your own that computes this inverse."),
    };
}

/// <content>ONNX export: Slice the kept channels, export the inner bijector on them, Concat the factored-out rest.</content>
public sealed partial class FactorOut : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        var channels = input.EventShape[0];
        var axis = graph.Int64Constant("axis", [1], 1);
        var kept = graph.Node("Slice", [input.Name, graph.Int64Constant("start", [0], 1), graph.Int64Constant("end", [keep], 1), axis]);
        var rest = graph.Node("Slice", [input.Name, graph.Int64Constant("start", [keep], 1), graph.Int64Constant("end", [channels], 1), axis]);
        long[] keptShape = [keep, .. input.EventShape.Skip(1)];
        var transformed = graph.Bijector(inner, new OnnxValue(kept, keptShape));
        if (!transformed.Output.EventShape.SequenceEqual(keptShape))
        {
            throw new InvalidOperationException($"FactorOut's inner bijector exported the shape {transformed.Output}; it must preserve [N, {string.Join(", ", keptShape)}].");
        }

        var output = graph.Node("Concat", [transformed.Output.Name, rest], OnnxAttributeValue.Of("axis", 1));
        return new OnnxBijectorOutput(new OnnxValue(output, input.EventShape), transformed.LogDet);
    }
}
