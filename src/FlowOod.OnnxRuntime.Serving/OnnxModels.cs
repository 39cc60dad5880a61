using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.OnnxRuntime.Internal;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// Edits of ONNX model bytes (a serialized <c>ModelProto</c>) that the gate needs, done on the protobuf wire format
/// without a protobuf library.
/// </summary>
public static class OnnxModels
{
    // ModelProto.graph; GraphProto.node, initializer, input, output, value_info; NodeProto.output; TensorProto.name;
    // ValueInfoProto.name.
    private const int ModelGraph = 7;
    private const int GraphNode = 1;
    private const int GraphInitializer = 5;
    private const int GraphInput = 11;
    private const int GraphOutput = 12;
    private const int GraphValueInfo = 13;
    private const int NodeOutput = 2;
    private const int TensorName = 8;
    private const int ValueInfoName = 1;

    /// <summary>
    /// Makes the value <paramref name="valueName"/> of the model's main graph (the output of one of its nodes, e.g. the
    /// penultimate layer of a classifier) an extra graph output, so ONNX Runtime returns it and
    /// <see cref="OnnxGateOptions.FeatureOutputName"/> (or <c>OnnxClassifierOptions.FeatureOutputName</c> of FlowOod.OnnxRuntime) can name it. ONNX Runtime returns graph outputs only.
    /// </summary>
    /// <remarks>
    /// <para>Protobuf merges a message field that occurs more than once, concatenating the repeated fields inside. The
    /// method therefore returns the model's bytes unchanged followed by one more <c>ModelProto.graph</c> field whose only
    /// content is one <c>GraphProto.output</c>: a <c>ValueInfoProto</c> copied from the graph's <c>value_info</c> entry of
    /// that name (with its type and shape) when there is one, else holding the name alone (ONNX Runtime then infers the
    /// output's type and shape). Nothing else in the model changes; opset, weights and metadata stay as they were.</para>
    /// <para>The alternative is to export the model with that output in the first place (e.g. name it in
    /// <c>output_names</c> of <c>torch.onnx.export</c> and return it from <c>forward</c>).</para>
    /// </remarks>
    /// <param name="model">The bytes of an ONNX model (<c>.onnx</c> file); not modified. Models with external data are
    /// edited the same way (their tensors stay where they are).</param>
    /// <param name="valueName">The name of a value of the main graph: a node output, graph input or initializer.</param>
    /// <returns>New model bytes whose graph has the extra output (last); when <paramref name="valueName"/> already is a
    /// graph output, a copy of <paramref name="model"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not a protobuf message with a graph, or the graph
    /// has no value <paramref name="valueName"/> (the message lists node outputs it has).</exception>
    public static byte[] ExposeOutput(byte[] model, string valueName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(valueName);
        var graph = ReadGraph(model);
        if (graph.Outputs.Contains(valueName))
        {
            return (byte[])model.Clone();
        }

        if (!graph.NodeOutputs.Contains(valueName) && !graph.Inputs.Contains(valueName) && !graph.Initializers.Contains(valueName))
        {
            throw new ArgumentException(
                $"The model's graph has no value named '{valueName}'. Its graph outputs are {Describe(graph.Outputs)}; its node outputs are "
                + $"{Describe(graph.NodeOutputs)}.",
                nameof(valueName));
        }

        ReadOnlyMemory<byte> valueInfo;
        if (graph.ValueInfos.TryGetValue(valueName, out var typed))
        {
            valueInfo = typed;
        }
        else
        {
            using var nameOnly = new MemoryStream();
            ProtoWire.WriteLengthDelimited(nameOnly, ValueInfoName, System.Text.Encoding.UTF8.GetBytes(valueName));
            valueInfo = nameOnly.ToArray();
        }

        using var graphPatch = new MemoryStream();
        ProtoWire.WriteLengthDelimited(graphPatch, GraphOutput, valueInfo.Span);
        using var result = new MemoryStream(model.Length + (int)graphPatch.Length + 8);
        result.Write(model);
        ProtoWire.WriteLengthDelimited(result, ModelGraph, graphPatch.ToArray());
        return result.ToArray();
    }

    /// <summary>The names of the main graph's outputs, in order (the merged view of every <c>graph</c> field).</summary>
    internal static IReadOnlyList<string> GraphOutputs(byte[] model) => ReadGraph(model).Outputs;

    private static GraphNames ReadGraph(byte[] model)
    {
        List<ProtoWire.Field> fields;
        try
        {
            fields = ProtoWire.Read(model);
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"The model bytes are not an ONNX model (protobuf ModelProto): {e.Message}", nameof(model), e);
        }

        var graphs = fields.Where(f => f.Number == ModelGraph && f.WireType == ProtoWire.LengthDelimited).ToList();
        if (graphs.Count == 0)
        {
            throw new ArgumentException($"The model bytes ({model.Length}) hold no graph (ModelProto field 7); is this an ONNX model?", nameof(model));
        }

        var names = new GraphNames();
        try
        {
            foreach (var graph in graphs)
            {
                foreach (var field in ProtoWire.Read(graph.Payload))
                {
                    if (field.WireType != ProtoWire.LengthDelimited)
                    {
                        continue;
                    }

                    switch (field.Number)
                    {
                        case GraphNode:
                            names.NodeOutputs.AddRange(ProtoWire.Read(field.Payload)
                                .Where(f => f.Number == NodeOutput && f.WireType == ProtoWire.LengthDelimited)
                                .Select(f => f.Text())
                                .Where(n => n.Length > 0));
                            break;
                        case GraphInitializer when ProtoWire.FirstText(field.Payload, TensorName) is { } initializer:
                            names.Initializers.Add(initializer);
                            break;
                        case GraphInput when ProtoWire.FirstText(field.Payload, ValueInfoName) is { } input:
                            names.Inputs.Add(input);
                            break;
                        case GraphOutput when ProtoWire.FirstText(field.Payload, ValueInfoName) is { } output:
                            names.Outputs.Add(output);
                            break;
                        case GraphValueInfo when ProtoWire.FirstText(field.Payload, ValueInfoName) is { } info:
                            names.ValueInfos.TryAdd(info, field.Payload);
                            break;
                    }
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"The model's graph is not a well-formed GraphProto: {e.Message}", nameof(model), e);
        }

        return names;
    }

    private static string Describe(List<string> names) =>
        names.Count == 0 ? "(none)"
        : string.Join(", ", names.Take(40).Select(n => $"'{n}'")) + (names.Count > 40 ? $", … ({names.Count} in all)" : string.Empty);

    private sealed class GraphNames
    {
        public List<string> NodeOutputs { get; } = [];

        public List<string> Inputs { get; } = [];

        public List<string> Initializers { get; } = [];

        public List<string> Outputs { get; } = [];

        public Dictionary<string, ReadOnlyMemory<byte>> ValueInfos { get; } = new(StringComparer.Ordinal);
    }
}
