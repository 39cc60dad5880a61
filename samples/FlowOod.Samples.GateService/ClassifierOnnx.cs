using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using FlowOod.Samples.FashionMnist;
using static TorchSharp.torch;

namespace FlowOod.Samples.GateService;

/// <summary>
/// Writes the sample's <see cref="SmallClassifier"/> as an ONNX model (opset 17) with two outputs, <c>logits</c>
/// [N, 10] and <c>embedding</c> [N, 32] (the output of the gate's feature layer <c>embedding.embed</c>), so the ONNX
/// mode (samples/FlowOod.Samples.GateService.Onnx) serves the same classifier with ONNX Runtime alone. A PyTorch user
/// gets the same file from <c>torch.onnx.export(model, x, output_names=["logits", "embedding"])</c>; this writer
/// encodes the few protobuf messages needed by hand (Conv, Relu, MaxPool, Flatten, Gemm).
/// </summary>
public static class ClassifierOnnx
{
    /// <summary>The classifier output that holds the gate's features.</summary>
    public const string FeatureOutput = "embedding";

    /// <summary>The ONNX model of <paramref name="classifier"/> (evaluation mode; its weights are read, not changed).</summary>
    /// <param name="classifier">The trained classifier.</param>
    /// <returns>The model bytes.</returns>
    public static byte[] Export(SmallClassifier classifier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var weights = classifier.state_dict().ToDictionary(p => p.Key, p => p.Value);
        Proto Weight(string name) => Tensor(name, weights[name]);
        long embedding = weights["embedding.embed.weight"].shape[0];
        long classes = weights["head.logits.weight"].shape[0];
        var nodes = new[]
        {
            Node("Conv", ["input", "embedding.conv1.weight", "embedding.conv1.bias"], "c1", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)),
            Node("Relu", ["c1"], "r1"),
            Node("MaxPool", ["r1"], "p1", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)),
            Node("Conv", ["p1", "embedding.conv2.weight", "embedding.conv2.bias"], "c2", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)),
            Node("Relu", ["c2"], "r2"),
            Node("MaxPool", ["r2"], "p2", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)),
            Node("Flatten", ["p2"], "flat", Int("axis", 1)),
            Node("Gemm", ["flat", "embedding.embed.weight", "embedding.embed.bias"], FeatureOutput, Int("transB", 1)),
            Node("Relu", [FeatureOutput], "r3"),
            Node("Gemm", ["r3", "head.logits.weight", "head.logits.bias"], "logits", Int("transB", 1)),
        };
        string[] parameters =
        [
            "embedding.conv1.weight", "embedding.conv1.bias", "embedding.conv2.weight", "embedding.conv2.bias",
            "embedding.embed.weight", "embedding.embed.bias", "head.logits.weight", "head.logits.bias",
        ];

        // GraphProto: node (1), name (2), initializer (5), input (11), output (12).
        var graph = new Proto();
        foreach (var node in nodes)
        {
            graph.Message(1, node);
        }

        graph.Text(2, "small_classifier");
        foreach (var name in parameters)
        {
            graph.Message(5, Weight(name));
        }

        graph.Message(11, ValueInfo("input", 1, 28, 28))
            .Message(12, ValueInfo("logits", classes))
            .Message(12, ValueInfo(FeatureOutput, embedding));

        // ModelProto: ir_version (1), producer_name (2), graph (7), opset_import (8) {domain (1), version (2)}.
        return new Proto().Varint(1, 8).Text(2, "FlowOod.Samples.GateService").Message(7, graph)
            .Message(8, new Proto().Text(1, string.Empty).Varint(2, 17)).ToArray();
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> (beside it first, then moved over it).</summary>
    /// <param name="model">The bytes.</param>
    /// <param name="path">The file.</param>
    public static void WriteAtomically(byte[] model, string path)
    {
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, model);
        File.Move(temporary, path, overwrite: true);
    }

    // NodeProto: input (1), output (2), name (3), op_type (4), attribute (5).
    private static Proto Node(string opType, string[] inputs, string output, params Proto[] attributes)
    {
        var node = new Proto();
        foreach (var input in inputs)
        {
            node.Text(1, input);
        }

        node.Text(2, output).Text(3, output).Text(4, opType);
        foreach (var attribute in attributes)
        {
            node.Message(5, attribute);
        }

        return node;
    }

    // AttributeProto: name (1), i (3), ints (8), type (20): INT = 2, INTS = 7.
    private static Proto Int(string name, long value) => new Proto().Text(1, name).Varint(3, value).Varint(20, 2);

    private static Proto Ints(string name, params long[] values)
    {
        var attribute = new Proto().Text(1, name);
        foreach (var value in values)
        {
            attribute.Varint(8, value);
        }

        return attribute.Varint(20, 7);
    }

    // TensorProto of float32: dims (1), data_type (2) = 1, name (8), raw_data (9, little-endian).
    private static Proto Tensor(string name, Tensor value)
    {
        var tensor = new Proto();
        foreach (var dim in value.shape)
        {
            tensor.Varint(1, dim);
        }

        var values = value.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        return tensor.Varint(2, 1).Text(8, name).Bytes(9, MemoryMarshal.AsBytes(values.AsSpan()));
    }

    // ValueInfoProto: name (1), type (2) = {tensor_type (1) = {elem_type (1) FLOAT, shape (2) = {dim (1): N, then fixed}}}.
    private static Proto ValueInfo(string name, params long[] dims)
    {
        var shape = new Proto().Message(1, new Proto().Text(2, "N"));
        foreach (var dim in dims)
        {
            shape.Message(1, new Proto().Varint(1, dim));
        }

        return new Proto().Text(1, name).Message(2, new Proto().Message(1, new Proto().Varint(1, 1).Message(2, shape)));
    }

    // A protobuf message written field by field (varints and length-delimited fields, all ONNX needs here).
    private sealed class Proto
    {
        private readonly List<byte> bytes = [];

        public Proto Varint(int field, long value)
        {
            WriteVarint((ulong)field << 3);
            WriteVarint((ulong)value);
            return this;
        }

        public Proto Bytes(int field, ReadOnlySpan<byte> payload)
        {
            WriteVarint(((ulong)field << 3) | 2);
            WriteVarint((ulong)payload.Length);
            bytes.AddRange(payload);
            return this;
        }

        public Proto Text(int field, string text) => Bytes(field, Encoding.UTF8.GetBytes(text));

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => [.. bytes];

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
}
