using System.Linq;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>
/// The ONNX graph of <see cref="StirringScorer"/>: the K permutations of the input as Gather nodes with constant indices
/// (each transform applied once to the index tensor 0 … D − 1), one pass of the flow over the input and its K permuted
/// copies stacked on the batch axis, then s(x) = Σ_T [ℓ(T(x)) − ℓ(x)] in float64 and, with the correction,
/// <see cref="StirringScorer.FlaggedScore"/> where ℓ(x) &lt; τ.
/// </summary>
internal static class OnnxStirring
{
    // The score (float64 [N]) and ℓ(x) (float32 [N], the flow's log-density of the input itself).
    public static (string Score, string LogProb) Score(OnnxGraphBuilder graph, OnnxValue input, StirringScorer stirring)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flow = stirring.Flow;
        long[] shape = [.. flow.EventShape];
        var transforms = ImagePermutations.For(stirring.Transforms, shape);
        var indices = tensor(Enumerable.Range(0, checked((int)flow.Dimensions)).Select(i => (long)i).ToArray()).reshape([1, .. shape]);
        var flat = graph.Node("Flatten", [input.Name], OnnxAttributeValue.Of("axis", 1L));
        long[] target = [0, .. shape];
        var copies = transforms
            .Select(t => graph.Node(
                "Reshape",
                [graph.Node("Gather", [flat, graph.Constant("stirring_indices", t(indices).flatten())], OnnxAttributeValue.Of("axis", 1L)), graph.Int64Constant("shape", target, target.Length)]))
            .Prepend(input.Name)
            .ToArray();
        var batch = graph.Node("Concat", copies, OnnxAttributeValue.Of("axis", 0L));
        string logProb;
        using (graph.BatchOf(batch))
        {
            logProb = OnnxExport.LogProbGraph(graph, flow, new OnnxValue(batch, shape));
        }

        var narrow = graph.Node("Reshape", [logProb, graph.Int64Constant("shape", [copies.Length, -1], 2)]);
        var first = graph.Int64Constant("first", [0]);
        var originalLogProb = graph.Node("Gather", [narrow, first], OnnxAttributeValue.Of("axis", 0L));
        var byCopy = graph.Node("Cast", [narrow], OnnxAttributeValue.Of("to", 11L));
        var original = graph.Node("Gather", [byCopy, first], OnnxAttributeValue.Of("axis", 0L));
        var permuted = graph.Node("Slice", [byCopy, graph.Int64Constant("start", [1], 1), graph.Int64Constant("end", [copies.Length], 1), graph.Int64Constant("axis", [0], 1)]);
        var sum = graph.Node("ReduceSum", [graph.Node("Sub", [permuted, original]), graph.Int64Constant("axes", [0], 1)], OnnxAttributeValue.Of("keepdims", 0L));
        var zeroDensity = graph.Node("IsInf", [original], OnnxAttributeValue.Of("detect_positive", 0L));
        var score = graph.Node("Where", [zeroDensity, graph.Float64Scalar(double.PositiveInfinity), sum]);
        var corrected = stirring.ConditionalCorrection
            ? graph.Node("Where", [graph.Node("Less", [original, graph.Float64Scalar(stirring.Threshold)]), graph.Float64Scalar(StirringScorer.FlaggedScore), score])
            : score;
        return (corrected, originalLogProb);
    }
}
