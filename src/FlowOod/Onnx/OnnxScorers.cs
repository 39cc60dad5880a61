using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Distributions;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>
/// The ONNX graph of a scorer's score: every built-in scorer whose maths ONNX can express, as a float64 <c>[N]</c> value
/// computed as FlowOod computes it (flows and networks in float32, their log-densities or losses widened to float64,
/// then the scorer's own arithmetic in float64).
/// </summary>
/// <remarks>
/// Each flow's log p(x) is exported once per graph however many members use it. <see cref="NotExportable"/> lists the
/// built-in scorers that cannot be exported, and why.
/// </remarks>
internal sealed class OnnxScorers
{
    /// <summary>Built-in scorers that cannot be exported, with the reason (the export throws it in a <see cref="NotSupportedException"/>).</summary>
    public static readonly IReadOnlyDictionary<Type, string> NotExportable = new Dictionary<Type, string>
    {
        [typeof(InputComplexityScorer)] =
            "its score subtracts the length of the image compressed by a lossless compressor (PNG or Deflate); ONNX has no "
            + "compression operator and the code length of LZ77 + Huffman coding is a sequential, data-dependent search that "
            + "a fixed graph of tensor operators cannot express",
    };

    private readonly OnnxGraphBuilder graph;
    private readonly OnnxValue input;
    private readonly Dictionary<NormalizingFlow, string> logProbs = new(ReferenceEqualityComparer.Instance);

    public OnnxScorers(OnnxGraphBuilder graph, OnnxValue input)
    {
        this.graph = graph;
        this.input = input;
    }

    /// <summary>The first flow whose log-density the graph computes (the graph's log_likelihood output), or null.</summary>
    public NormalizingFlow? FirstFlow { get; private set; }

    /// <summary>log p(x) of <paramref name="flow"/> on the graph input, float32 <c>[N]</c>, computed once per flow.</summary>
    public string LogProb(NormalizingFlow flow)
    {
        if (!logProbs.TryGetValue(flow, out var name))
        {
            name = OnnxExport.LogProbGraph(graph, flow, input);
            Remember(flow, name);
        }

        return name;
    }

    /// <summary>The score of <paramref name="scorer"/> on the graph input, float64 <c>[N]</c>.</summary>
    /// <exception cref="NotSupportedException">The scorer, or a member of it, cannot be exported; the message names it.</exception>
    public string Score(IOodScorer scorer)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        if (NotExportable.TryGetValue(scorer.GetType(), out var reason))
        {
            throw new NotSupportedException($"The scorer {scorer.GetType().FullName} ({scorer.Name}) cannot be exported to ONNX: {reason}.");
        }

        if (scorer is FlowScorer { Noise.Kind: not ScoringNoiseKind.BinCentres } noisy)
        {
            throw new NotSupportedException(
                $"The scorer {scorer.GetType().FullName} uses {noisy.Noise} dequantization noise; the ONNX graph computes the bin-centre density, so its scores would differ. Rebuild it with ScoringNoise.BinCentres.");
        }

        return scorer switch
        {
            NegativeLogLikelihoodScorer nll => nll.Unit == LikelihoodUnit.Nats
                ? graph.Node("Neg", [Wide(LogProb(nll.Flow))])
                : BitsPerDim(nll.Flow, Wide(LogProb(nll.Flow))),
            TypicalityScorer typicality => graph.Node("Abs", [graph.Node("Sub", [graph.Node("Neg", [Wide(LogProb(typicality.Flow))]), graph.Float64Scalar(typicality.Entropy)])]),
            LikelihoodRatioScorer ratio => graph.Node("Sub", [Wide(LogProb(ratio.Background)), Wide(LogProb(ratio.Foreground))]),
            LocalLikelihoodRatioScorer local => graph.Node(
                "Div",
                [graph.Node("Sub", [Wide(LogProb(local.Local)), Wide(LogProb(local.Full))]), graph.Float64Scalar(local.Full.Dimensions * Math.Log(2))]),
            WaicScorer waic => Waic(waic),
            TwoSidedScorer twoSided => graph.Node(
                "Div",
                [graph.Node("Abs", [graph.Node("Sub", [Score(twoSided.Inner), graph.Float64Scalar(twoSided.Center)])]), graph.Float64Scalar(twoSided.Scale)]),
            DoseScorer dose => Kde(dose.Kde, DoseStatistics(dose)),
            ScoreDensityScorer density => Kde(density.Kde, Stack(density.Members.Select(Score).ToArray())),
            RotationPredictionScorer rotation => Rotation(rotation),
            StirringScorer stirring => Stirring(stirring),
            FeatureSpaceScorer => throw new NotSupportedException(
                $"The scorer {scorer.GetType().FullName} scores feature vectors, not the inputs of the other scores: it exports on its own (OnnxExport.Write(scorer, ...)), not inside another scorer."),
            _ => throw new NotSupportedException(
                $"The scorer {scorer.GetType().FullName} ({scorer.Name}) cannot be exported to ONNX: it is not one of FlowOod's built-in scorers with an export. "
                + "Export its flows with OnnxExport.Write(flow, ...) and compute its score from their log-likelihoods."),
        };
    }

    /// <summary>The event shape, input range and discretization of the inputs <paramref name="scorer"/> takes (its flows', or the rotation network's).</summary>
    public static (long[] EventShape, (double Min, double Max)? Range, int? Levels) InputOf(IOodScorer scorer)
    {
        var flows = Flows(scorer).ToArray();
        if (flows.Length > 0)
        {
            var first = flows[0];
            foreach (var other in flows.Skip(1))
            {
                if (!other.EventShape.SequenceEqual(first.EventShape))
                {
                    throw new NotSupportedException(
                        $"The scorer {scorer.GetType().FullName} combines flows of event shapes [{string.Join(", ", first.EventShape)}] and [{string.Join(", ", other.EventShape)}]; one ONNX input cannot feed both.");
                }
            }

            return ([.. first.EventShape], first.InputRange, first.DiscretizationLevels);
        }

        if (Members(scorer).OfType<RotationPredictionScorer>().FirstOrDefault() is { } rotation)
        {
            return ([rotation.Channels, rotation.Size, rotation.Size], (0.0, 1.0), null);
        }

        throw new NotSupportedException($"The scorer {scorer.GetType().FullName} ({scorer.Name}) cannot be exported to ONNX: it has no flow or network to export.");
    }

    // The scorer and every scorer inside it, depth first.
    private static IEnumerable<IOodScorer> Members(IOodScorer scorer) => scorer switch
    {
        TwoSidedScorer twoSided => Members(twoSided.Inner).Prepend(scorer),
        ScoreDensityScorer density => density.Members.SelectMany(Members).Prepend(scorer),
        _ => [scorer],
    };

    private static IEnumerable<NormalizingFlow> Flows(IOodScorer scorer) => Members(scorer).SelectMany<IOodScorer, NormalizingFlow>(s => s switch
    {
        NegativeLogLikelihoodScorer x => [x.Flow],
        TypicalityScorer x => [x.Flow],
        LikelihoodRatioScorer x => [x.Foreground, x.Background],
        LocalLikelihoodRatioScorer x => [x.Full, x.Local],
        WaicScorer x => x.Ensemble,
        DoseScorer x => [x.Flow],
        StirringScorer x => [x.Flow],
        InputComplexityScorer x => [x.Flow],
        _ => [],
    });

    private string Stirring(StirringScorer stirring)
    {
        var (score, logProb) = OnnxStirring.Score(graph, input, stirring);
        logProbs.TryAdd(stirring.Flow, logProb);
        FirstFlow ??= stirring.Flow;
        return score;
    }

    private void Remember(NormalizingFlow flow, string logProb)
    {
        logProbs[flow] = logProb;
        FirstFlow ??= flow;
    }

    private string Wide(string value) => graph.Node("Cast", [value], OnnxAttributeValue.Of("to", 11L));

    private string BitsPerDim(NormalizingFlow flow, string logProb) => flow.DiscretizationLevels is { } levels
        ? graph.Node("Div", [graph.Node("Sub", [logProb, graph.Float64Scalar(flow.Dimensions * Math.Log(levels))]), graph.Float64Scalar(-flow.Dimensions * Math.Log(2))])
        : graph.Node("Div", [logProb, graph.Float64Scalar(-flow.Dimensions * Math.Log(2))]);

    // [N] values → [N, J] (axis 1 in the given order).
    private string Stack(IReadOnlyList<string> columns)
    {
        var axis = graph.Int64Constant("axes", [1], 1);
        var unsqueezed = columns.Select(c => graph.Node("Unsqueeze", [c, axis])).ToArray();
        return unsqueezed.Length == 1 ? unsqueezed[0] : graph.Node("Concat", unsqueezed, OnnxAttributeValue.Of("axis", 1));
    }

    // Var_k log p_k − mean_k log p_k over the ensemble (sample variance), float64.
    private string Waic(WaicScorer waic)
    {
        var k = waic.Ensemble.Count;
        var columns = Stack(waic.Ensemble.Select(f => Wide(LogProb(f))).ToArray());
        var axes = graph.Int64Constant("axes", [1], 1);
        var mean = graph.Node("Div", [graph.Node("ReduceSum", [columns, axes], OnnxAttributeValue.Of("keepdims", 1)), graph.Float64Scalar(k)]);
        var centred = graph.Node("Sub", [columns, mean]);
        var sumOfSquares = graph.Node("ReduceSum", [graph.Node("Mul", [centred, centred]), axes], OnnxAttributeValue.Of("keepdims", 0));
        var variance = graph.Node("Div", [sumOfSquares, graph.Float64Scalar(k - 1)]);
        var score = graph.Node("Sub", [variance, graph.Node("Squeeze", [mean, axes])]);

        // A flow that gives the input zero density (log p = −∞) makes the score +∞, as WaicScorer.
        var lowest = graph.Node("ReduceMin", [columns], OnnxAttributeValue.Of("axes", [1L]), OnnxAttributeValue.Of("keepdims", 0L));
        var zeroDensity = graph.Node("IsInf", [lowest], OnnxAttributeValue.Of("detect_positive", 0L));
        return graph.Node("Where", [zeroDensity, graph.Float64Scalar(double.PositiveInfinity), score]);
    }

    // −Σ_j log KDE_j(u_j) of values [N, J] (float64), as IndependentKde.NegativeLogDensity, saturated at double.MaxValue.
    private string Kde(IndependentKde kde, string values)
    {
        var j = kde.Count;
        var m = kde.Standardized(0).Length;
        var samples = graph.Float64Constant("kde_samples", Enumerable.Range(0, j).SelectMany(kde.Standardized).ToArray(), 1, j, m);
        var mean = graph.Float64Constant("kde_mean", Enumerable.Range(0, j).Select(kde.Mean).ToArray(), j);
        var scale = graph.Float64Constant("kde_scale", Enumerable.Range(0, j).Select(kde.Scale).ToArray(), j);
        var bandwidth = graph.Float64Constant("kde_bandwidth", Enumerable.Range(0, j).Select(kde.Bandwidth).ToArray(), 1, j, 1);
        var normalizer = graph.Float64Constant("kde_log_normalizer", Enumerable.Range(0, j).Select(kde.LogNormalizer).ToArray(), j);

        var u = graph.Node("Div", [graph.Node("Sub", [values, mean]), scale]);
        var d = graph.Node("Div", [graph.Node("Sub", [graph.Node("Unsqueeze", [u, graph.Int64Constant("axes", [2], 1)]), samples]), bandwidth]);
        var exponent = graph.Node("Mul", [graph.Node("Mul", [d, d]), graph.Float64Scalar(-0.5)]);
        var axis2 = graph.Int64Constant("axes", [2], 1);
        var largest = graph.Node("ReduceMax", [exponent], OnnxAttributeValue.Of("axes", [2L]), OnnxAttributeValue.Of("keepdims", 1));
        var sum = graph.Node("ReduceSum", [graph.Node("Exp", [graph.Node("Sub", [exponent, largest])]), axis2], OnnxAttributeValue.Of("keepdims", 0));
        var logDensity = graph.Node("Sub", [graph.Node("Add", [graph.Node("Squeeze", [largest, axis2]), graph.Node("Log", [sum])]), normalizer]);
        var total = graph.Node("Neg", [graph.Node("ReduceSum", [logDensity, graph.Int64Constant("axes", [1], 1)], OnnxAttributeValue.Of("keepdims", 0))]);
        var max = graph.Float64Scalar(double.MaxValue);
        return graph.Node("Where", [graph.Node("IsNaN", [total]), max, graph.Node("Min", [total, max])]);
    }

    // DoSE's statistics [N, S] (float64) by the walk of FlowStatistics: log p(x), log p_Z(z), per top-level step its
    // log-determinant, per factor-out its inner log-determinant and the log-density of what it sets aside.
    private string DoseStatistics(DoseScorer dose)
    {
        using var noGrad = no_grad();
        var flow = dose.Flow;
        if (flow.BaseDistribution is not StandardNormal)
        {
            throw new NotSupportedException(
                $"The base distribution {flow.BaseDistribution.GetType().FullName} cannot be exported to ONNX: only StandardNormal is built in.");
        }

        Bijector[] topLevel = flow.Transform is Chain chain ? [.. chain.Steps] : [flow.Transform];
        var slots = new string?[dose.StatisticNames.Count];
        var walk = new DoseWalk(graph, slots, 2 + topLevel.Length);
        var (current, total) = walk.Step(topLevel[0], input, owner: 2);
        for (int i = 1; i < topLevel.Length; i++)
        {
            var (output, logDet) = walk.Step(topLevel[i], current, owner: 2 + i);
            total = graph.AddLogDets(total, logDet);
            current = output;
        }

        var latent = StandardNormalLogDensity(graph, current);
        var logProb = total is null ? latent : graph.Node("Add", [latent, total]);
        if (!logProbs.ContainsKey(flow))
        {
            Remember(flow, logProb);
        }

        slots[0] = logProb;
        slots[1] = latent;
        return Wide(Stack(slots.Select(s => s ?? graph.PerExample(0)).ToArray()));
    }

    // log N(z; 0, I) per example: −½·Σ z² − D·½·log 2π, as StandardNormal.LogProb (float32).
    internal static string StandardNormalLogDensity(OnnxGraphBuilder graph, OnnxValue value)
    {
        var flat = graph.Node("Flatten", [value.Name], OnnxAttributeValue.Of("axis", 1L));
        var squares = graph.Node("ReduceSum", [graph.Node("Mul", [flat, flat]), graph.Int64Constant("axes", [1], 1)], OnnxAttributeValue.Of("keepdims", 0L));
        var halved = graph.Node("Mul", [squares, graph.Scalar(-0.5)]);
        var d = value.EventShape.Aggregate(1L, (a, b) => a * b);
        return graph.Node("Sub", [halved, graph.Scalar(d * 0.5 * Math.Log(2 * Math.PI))]);
    }

    // Σ_k −log softmax(f(r_k x))_k in float32 (as RotationPredictionScorer), widened to float64. r_k = torch.rot90(x, k, (2, 3)):
    // k = 1 flips W then swaps H and W, k = 2 flips both, k = 3 flips H then swaps.
    private string Rotation(RotationPredictionScorer rotation)
    {
        using var noGrad = no_grad();
        var s = rotation.Size;
        var reversed = graph.Int64Constant("reversed", Enumerable.Range(0, s).Select(i => (long)(s - 1 - i)).ToArray(), s);
        string FlipH(string x) => graph.Node("Gather", [x, reversed], OnnxAttributeValue.Of("axis", 2L));
        string FlipW(string x) => graph.Node("Gather", [x, reversed], OnnxAttributeValue.Of("axis", 3L));
        string Swap(string x) => graph.Node("Transpose", [x], OnnxAttributeValue.Of("perm", [0L, 1, 3, 2]));
        var x = input.Name;
        string[] rotated = [x, Swap(FlipW(x)), FlipH(FlipW(x)), Swap(FlipH(x))];
        var batch = graph.Node("Concat", rotated, OnnxAttributeValue.Of("axis", 0L));
        var logits = graph.Module(rotation.Network, new OnnxValue(batch, input.EventShape));
        var logProbabilities = graph.Node("LogSoftmax", [logits.Name], OnnxAttributeValue.Of("axis", 1L));
        var k = RotationPredictionScorer.Rotations;
        var byRotation = graph.Node("Reshape", [logProbabilities, graph.Int64Constant("rotation_shape", [k, -1, k], 3)]);
        var diagonal = new float[k * k];
        for (int i = 0; i < k; i++)
        {
            diagonal[(i * k) + i] = 1;
        }

        var picked = graph.Node("Mul", [byRotation, graph.Constant("rotation_eye", diagonal, k, 1, k)]);
        var sum = graph.Node("ReduceSum", [picked, graph.Int64Constant("axes", [0, 2], 2)], OnnxAttributeValue.Of("keepdims", 0));
        return Wide(graph.Node("Neg", [sum]));
    }

    // FlowStatistics' walk over the bijector tree, on graph values; a null log-determinant is zero.
    private sealed class DoseWalk(OnnxGraphBuilder graph, string?[] slots, int firstFactorOutSlot)
    {
        private int factorOuts;

        public (OnnxValue Output, string? LogDet) Step(Bijector bijector, OnnxValue value, int owner)
        {
            switch (bijector)
            {
                case Chain chain:
                    var steps = chain.Steps;
                    var (current, total) = Step(steps[0], value, owner);
                    for (int i = 1; i < steps.Count; i++)
                    {
                        var (output, logDet) = Step(steps[i], current, owner);
                        total = graph.AddLogDets(total, logDet);
                        current = output;
                    }

                    return (current, total);
                case FactorOut factorOut:
                    var keep = factorOut.KeepChannels;
                    var channels = value.EventShape[0];
                    var slot = firstFactorOutSlot + (2 * factorOuts++);
                    var axis = graph.Int64Constant("axis", [1], 1);
                    var kept = graph.Node("Slice", [value.Name, graph.Int64Constant("start", [0], 1), graph.Int64Constant("end", [keep], 1), axis]);
                    var rest = graph.Node("Slice", [value.Name, graph.Int64Constant("start", [keep], 1), graph.Int64Constant("end", [channels], 1), axis]);
                    long[] keptShape = [keep, .. value.EventShape.Skip(1)];
                    var (transformed, innerLogDet) = Step(factorOut.Inner, new OnnxValue(kept, keptShape), slot);
                    slots[slot] ??= graph.PerExample(0);
                    slots[slot + 1] = StandardNormalLogDensity(graph, new OnnxValue(rest, [value.EventShape[0] - keep, .. value.EventShape.Skip(1)]));
                    var joined = graph.Node("Concat", [transformed.Name, rest], OnnxAttributeValue.Of("axis", 1L));
                    return (new OnnxValue(joined, value.EventShape), innerLogDet);
                default:
                    var result = graph.Bijector(bijector, value);
                    var stepLogDet = result.LogDet;
                    if (stepLogDet is not null)
                    {
                        slots[owner] = slots[owner] is { } sum ? graph.Node("Add", [sum, stepLogDet]) : stepLogDet;
                    }

                    return (result.Output, stepLogDet);
            }
        }
    }
}
