using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using FlowOod.Distributions;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>
/// Writes a flow's scoring graph as an ONNX model (opset <see cref="Opset"/>, IR version 8), so that ONNX Runtime — or
/// any ONNX runtime, without libtorch — computes the log-likelihoods FlowOod's scorers compute.
/// </summary>
/// <remarks>
/// <para>The graph has one input <see cref="InputName"/>, float32 <c>[N, eventShape...]</c> in the flow's input range
/// (N dynamic), and two outputs, float32 <c>[N]</c>: <see cref="LogLikelihoodOutput"/>, log p(x) in nats, and
/// <see cref="BitsPerDimOutput"/>, as <see cref="NormalizingFlow.BitsPerDim(Tensor)"/>. It is the flow's evaluation-mode
/// maths with the dequantization noise at the bin centres (<see cref="ScoringNoise.BinCentres"/>, every scorer's
/// default): dequantization, logit, every step's forward pass (data → latent) and log-determinant, and the standard
/// normal log-density. Parameters become float32 constants; BatchNorm layers use their running statistics.</para>
/// <para>Every FlowOod bijector, coupling, mask, st-network, bottleneck and scale activation exports. A component of
/// your own implements <see cref="IOnnxExportable"/> (bijectors), <see cref="IOnnxExportableModule"/> (st-networks,
/// bottleneck layers) or <see cref="IOnnxExportableScaleActivation"/>; otherwise the export throws a
/// <see cref="NotSupportedException"/> naming it. The file is written by FlowOod's own protobuf encoder.</para>
/// <para>Scorers and detectors export too (<see cref="Write(Scoring.IOodScorer, string, OnnxExportOptions?)"/>): a
/// likelihood scorer as its flow's graph, every other exportable scorer (DoSE, rotation prediction, score densities,
/// likelihood ratios, …) as a graph that computes its whole score into the float64 output <see cref="ScoreOutput"/>.</para>
/// <para>metadata_props record <c>flowood.event_shape</c>, <c>flowood.dimensions</c>,
/// <c>flowood.discretization_levels</c> (if any), <c>flowood.input_range</c> (if any), <c>flowood.noise</c> and
/// <c>flowood.version</c>, plus <see cref="OnnxExportOptions.Metadata"/>.</para>
/// </remarks>
public static partial class OnnxExport
{
    /// <summary>The ONNX opset the graph uses.</summary>
    public const int Opset = 17;

    /// <summary>The graph input: float32 <c>[N, eventShape...]</c>.</summary>
    public const string InputName = "input";

    /// <summary>The output log p(x) in nats, float32 <c>[N]</c>.</summary>
    public const string LogLikelihoodOutput = "log_likelihood";

    /// <summary>The output bits/dim, float32 <c>[N]</c>.</summary>
    public const string BitsPerDimOutput = "bits_per_dim";

    /// <summary>The prefix of the metadata keys the export writes itself.</summary>
    public const string MetadataPrefix = "flowood.";

    /// <summary>
    /// The output of a scorer's or detector's graph that is its score, float64 <c>[N]</c> (for every scorer but a
    /// <see cref="NegativeLogLikelihoodScorer"/> or <see cref="FeatureSpaceScorer"/>, whose score the runtime computes from
    /// <see cref="LogLikelihoodOutput"/>); <c>flowood.score</c> is then <c>"score"</c>.
    /// </summary>
    public const string ScoreOutput = "score";

    private const long IrVersion = 8;
    private const int FloatType = 1;
    private const int DoubleType = 11;

    /// <summary>Writes <paramref name="flow"/>'s scoring graph to <paramref name="destination"/>.</summary>
    /// <param name="flow">The flow (its parameters are read, not changed).</param>
    /// <param name="destination">A writable stream; left open.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">A component of the flow (named in the message) cannot be exported.</exception>
    /// <exception cref="ArgumentException">A metadata key uses the reserved prefix.</exception>
    public static void Write(NormalizingFlow flow, Stream destination, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(destination);
        Build(flow, options ?? new OnnxExportOptions(), [(MetadataPrefix + "kind", FlowKind)]).CopyTo(destination);
    }

    /// <summary>Writes <paramref name="flow"/>'s scoring graph to the file <paramref name="path"/> (replaced whole: written
    /// beside it first, then moved over it).</summary>
    /// <param name="flow">The flow.</param>
    /// <param name="path">The ONNX file to write.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">A component of the flow (named in the message) cannot be exported.</exception>
    public static void Write(NormalizingFlow flow, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        WriteFile(Build(flow, options ?? new OnnxExportOptions(), [(MetadataPrefix + "kind", FlowKind)]), path);
    }

    // Writes beside the target, then moves over it: a reader never sees half a file.
    private static void WriteFile(ProtoWriter model, string path)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var file = File.Create(temporary))
            {
                model.CopyTo(file);
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The ONNX model of <paramref name="flow"/>'s scoring graph as bytes.</summary>
    /// <param name="flow">The flow.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <returns>The serialized ModelProto.</returns>
    /// <exception cref="NotSupportedException">A component of the flow (named in the message) cannot be exported.</exception>
    public static byte[] ToBytes(NormalizingFlow flow, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return Build(flow, options ?? new OnnxExportOptions(), [(MetadataPrefix + "kind", FlowKind)]).ToArray();
    }

    // ModelProto: ir_version (1), producer_name (2), producer_version (3), doc_string (6), graph (7), opset_import (8),
    // metadata_props (14: StringStringEntryProto key 1, value 2).
    private static ProtoWriter Build(
        NormalizingFlow flow, OnnxExportOptions options, IReadOnlyList<(string Key, string Value)> scoring, FeatureStandardizer? standardizer = null)
    {
        CheckEndianness();
        var metadata = Metadata([.. flow.EventShape], flow.DiscretizationLevels, flow.InputRange, options);
        metadata.InsertRange(metadata.Count - (options.Metadata?.Count ?? 0), scoring);
        var graph = new OnnxGraphBuilder(InputName);
        var (logLikelihood, bitsPerDim) = ScoringGraph(graph, flow, standardizer);
        graph.Alias(logLikelihood, LogLikelihoodOutput);
        graph.Alias(bitsPerDim, BitsPerDimOutput);
        var outputs = new[] { ValueInfo(LogLikelihoodOutput, []), ValueInfo(BitsPerDimOutput, []) };
        return Assemble(graph, options, ValueInfo(InputName, [.. flow.EventShape]), outputs, metadata);
    }

    // The graph of a scorer's score (OnnxScorers): output ScoreOutput (float64), plus log_likelihood and bits_per_dim of
    // its first flow when it has one.
    private static ProtoWriter BuildScore(IOodScorer scorer, OnnxExportOptions options, IReadOnlyList<(string Key, string Value)> scoring)
    {
        CheckEndianness();
        var (shape, range, levels) = OnnxScorers.InputOf(scorer);
        var metadata = Metadata(shape, levels, range, options);
        metadata.InsertRange(metadata.Count - (options.Metadata?.Count ?? 0), scoring);
        var graph = new OnnxGraphBuilder(InputName);
        var scorers = new OnnxScorers(graph, new OnnxValue(InputName, shape));
        graph.Alias(scorers.Score(scorer), ScoreOutput);
        var outputs = new List<ProtoWriter> { ValueInfo(ScoreOutput, [], DoubleType) };
        if (scorers.FirstFlow is { } flow)
        {
            var logProb = scorers.LogProb(flow);
            graph.Alias(logProb, LogLikelihoodOutput);
            graph.Alias(BitsGraph(graph, flow, logProb), BitsPerDimOutput);
            outputs.Add(ValueInfo(LogLikelihoodOutput, []));
            outputs.Add(ValueInfo(BitsPerDimOutput, []));
        }

        return Assemble(graph, options, ValueInfo(InputName, shape), outputs, metadata);
    }

    private static ProtoWriter Assemble(
        OnnxGraphBuilder graph, OnnxExportOptions options, ProtoWriter inputInfo, IEnumerable<ProtoWriter> outputs, List<(string Key, string Value)> metadata)
    {
        var model = new ProtoWriter()
            .Varint(1, IrVersion)
            .Text(2, "FlowOod")
            .Text(3, Version);
        if (!string.IsNullOrEmpty(options.Description))
        {
            model.Text(6, options.Description);
        }

        model.Message(7, graph.Encode(options.GraphName, options.Description, inputInfo, outputs))
            .Message(8, new ProtoWriter().Text(1, string.Empty).Varint(2, Opset));
        foreach (var (key, value) in metadata)
        {
            model.Message(14, new ProtoWriter().Text(1, key).Text(2, value));
        }

        return model;
    }

    private static void CheckEndianness()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("The ONNX export writes raw little-endian tensors and needs a little-endian machine.");
        }
    }

    private static (string LogLikelihood, string BitsPerDim) ScoringGraph(OnnxGraphBuilder graph, NormalizingFlow flow, FeatureStandardizer? standardizer)
    {
        var input = InputName;
        if (standardizer is not null)
        {
            // A feature-space graph takes raw features f [N, D]: z = float32((float64(f) − μ) / σ), as FeatureStandardizer.
            var features = standardizer.FeatureDimension;
            var wide = graph.Node("Cast", [InputName], OnnxAttributeValue.Of("to", 11L));
            var centred = graph.Node("Sub", [wide, graph.Float64Constant("feature_mean", [.. standardizer.Mean], features)]);
            var scaled = graph.Node("Div", [centred, graph.Float64Constant("feature_std", [.. standardizer.StandardDeviation], features)]);
            input = graph.Node("Cast", [scaled], OnnxAttributeValue.Of("to", 1L));
        }

        var logProb = LogProbGraph(graph, flow, new OnnxValue(input, flow.EventShape));
        return (logProb, BitsGraph(graph, flow, logProb));
    }

    /// <summary>log p(x) of <paramref name="flow"/> on <paramref name="input"/> (float32 <c>[N]</c>): its transform's forward
    /// pass and log-determinant plus the standard normal log-density of the latent.</summary>
    internal static string LogProbGraph(OnnxGraphBuilder graph, NormalizingFlow flow, OnnxValue input)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var transformed = graph.Bijector(flow.Transform, input);
        if (flow.BaseDistribution is not StandardNormal)
        {
            throw new NotSupportedException(
                $"The base distribution {flow.BaseDistribution.GetType().FullName} cannot be exported to ONNX: only StandardNormal is built in.");
        }

        // log N(z; 0, I) = −½·Σ z² − D·½·log 2π, then + log|det|.
        var baseLogProb = OnnxScorers.StandardNormalLogDensity(graph, transformed.Output);
        return transformed.LogDet is null ? baseLogProb : graph.Node("Add", [baseLogProb, transformed.LogDet]);
    }

    // Bits/dim from log p (float32), as NormalizingFlow.BitsPerDim.
    private static string BitsGraph(OnnxGraphBuilder graph, NormalizingFlow flow, string logProb)
    {
        var d = flow.Dimensions;
        return flow.DiscretizationLevels is { } levels
            ? graph.Node("Div", [graph.Node("Sub", [logProb, graph.Scalar(d * Math.Log(levels))]), graph.Scalar(-d * Math.Log(2))])
            : graph.Node("Div", [logProb, graph.Scalar(-d * Math.Log(2))]);
    }

    private static List<(string Key, string Value)> Metadata(long[] eventShape, int? discretizationLevels, (double Min, double Max)? inputRange, OnnxExportOptions options)
    {
        var entries = new List<(string, string)>
        {
            (MetadataPrefix + "event_shape", string.Join(",", eventShape.Select(d => d.ToString(CultureInfo.InvariantCulture)))),
            (MetadataPrefix + "dimensions", eventShape.Aggregate(1L, (a, b) => a * b).ToString(CultureInfo.InvariantCulture)),
            (MetadataPrefix + "noise", ScoringNoise.BinCentres.ToString()),
            (MetadataPrefix + "version", Version),
        };
        if (discretizationLevels is { } levels)
        {
            entries.Add((MetadataPrefix + "discretization_levels", levels.ToString(CultureInfo.InvariantCulture)));
        }

        if (inputRange is { } range)
        {
            entries.Add((MetadataPrefix + "input_range", string.Create(CultureInfo.InvariantCulture, $"{range.Min:R},{range.Max:R}")));
        }

        foreach (var (key, value) in options.Metadata ?? new Dictionary<string, string>())
        {
            if (key is null || key.StartsWith(MetadataPrefix, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Metadata key '{key}' is reserved: keys starting with '{MetadataPrefix}' are written by the export.", nameof(options));
            }

            entries.Add((key, value ?? string.Empty));
        }

        return entries;
    }

    // ValueInfoProto: name (1), type (2) = TypeProto {tensor_type (1) = {elem_type (1) FLOAT, shape (2) = {dim (1) = {dim_value (1) | dim_param (2)}}}}.
    private static ProtoWriter ValueInfo(string name, long[] eventShape, int elementType = FloatType)
    {
        var shape = new ProtoWriter().Message(1, new ProtoWriter().Text(2, "N"));
        foreach (var dim in eventShape)
        {
            shape.Message(1, new ProtoWriter().Varint(1, dim));
        }

        var tensorType = new ProtoWriter().Varint(1, elementType).Message(2, shape);
        return new ProtoWriter().Text(1, name).Message(2, new ProtoWriter().Message(1, tensorType));
    }

    private static string Version =>
        typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
