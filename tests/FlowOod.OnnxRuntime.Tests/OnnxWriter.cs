using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// A protobuf message written field by field (varints and length-delimited fields only, as ONNX models need), so the
/// tests build ONNX models without Python or a protobuf library.
/// </summary>
internal sealed class Proto
{
    private readonly List<byte> bytes = [];

    public Proto Varint(int field, long value)
    {
        Key(field, 0);
        WriteVarint((ulong)value);
        return this;
    }

    public Proto Bytes(int field, ReadOnlySpan<byte> bytes)
    {
        Key(field, 2);
        WriteVarint((ulong)bytes.Length);
        this.bytes.AddRange(bytes);
        return this;
    }

    public Proto Text(int field, string text) => Bytes(field, Encoding.UTF8.GetBytes(text));

    public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

    public byte[] ToArray() => [.. bytes];

    private void Key(int field, int wireType) => WriteVarint(((ulong)field << 3) | (uint)wireType);

    private void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
    }
}

/// <summary>The ONNX messages the tests need (field numbers of onnx.proto, ir_version 8, opset 17).</summary>
internal static class OnnxWriter
{
    public const int Float = 1;

    /// <summary>ModelProto: ir_version (1), producer_name (2), graph (7), opset_import (8: domain 1, version 2).</summary>
    public static byte[] Model(Proto graph, long opset = 17, long irVersion = 8) =>
        new Proto()
            .Varint(1, irVersion)
            .Text(2, "FlowOod.OnnxRuntime.Tests")
            .Message(7, graph)
            .Message(8, new Proto().Text(1, string.Empty).Varint(2, opset))
            .ToArray();

    /// <summary>GraphProto: node (1), name (2), initializer (5), input (11), output (12), value_info (13).</summary>
    public static Proto Graph(string name, Proto[] nodes, Proto[] initializers, Proto[] inputs, Proto[] outputs, Proto[]? valueInfos = null)
    {
        var graph = new Proto();
        foreach (var node in nodes)
        {
            graph.Message(1, node);
        }

        graph.Text(2, name);
        foreach (var initializer in initializers)
        {
            graph.Message(5, initializer);
        }

        foreach (var input in inputs)
        {
            graph.Message(11, input);
        }

        foreach (var output in outputs)
        {
            graph.Message(12, output);
        }

        foreach (var info in valueInfos ?? [])
        {
            graph.Message(13, info);
        }

        return graph;
    }

    /// <summary>NodeProto: input (1), output (2), name (3), op_type (4), attribute (5).</summary>
    public static Proto Node(string opType, string name, string[] inputs, string[] outputs, params Proto[] attributes)
    {
        var node = new Proto();
        foreach (var input in inputs)
        {
            node.Text(1, input);
        }

        foreach (var output in outputs)
        {
            node.Text(2, output);
        }

        node.Text(3, name).Text(4, opType);
        foreach (var attribute in attributes)
        {
            node.Message(5, attribute);
        }

        return node;
    }

    /// <summary>AttributeProto of type INT: name (1), i (3), type (20) = 2.</summary>
    public static Proto IntAttribute(string name, long value) => new Proto().Text(1, name).Varint(3, value).Varint(20, 2);

    /// <summary>TensorProto of float32: dims (1), data_type (2) = 1, name (8), raw_data (9, little-endian).</summary>
    public static Proto Tensor(string name, float[] values, params long[] dims)
    {
        if (values.Length != dims.Aggregate(1L, (a, b) => a * b))
        {
            throw new ArgumentException($"{values.Length} values do not fill [{string.Join(", ", dims)}].", nameof(values));
        }

        var tensor = new Proto();
        foreach (var dim in dims)
        {
            tensor.Varint(1, dim);
        }

        return tensor.Varint(2, Float).Text(8, name).Bytes(9, MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>
    /// ValueInfoProto: name (1), type (2) = TypeProto.tensor_type (1) {elem_type (1), shape (2) = TensorShapeProto
    /// {dim (1) = {dim_value (1) | dim_param (2)}}}; a dimension is a long (fixed) or a string (symbolic).
    /// </summary>
    public static Proto ValueInfo(string name, params object[] dims)
    {
        var shape = new Proto();
        foreach (var dim in dims)
        {
            shape.Message(1, dim is string symbol ? new Proto().Text(2, symbol) : new Proto().Varint(1, Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture)));
        }

        var tensorType = new Proto().Varint(1, Float).Message(2, shape);
        return new Proto().Text(1, name).Message(2, new Proto().Message(1, tensorType));
    }
}
