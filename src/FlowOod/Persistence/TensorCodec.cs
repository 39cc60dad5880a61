using System;
using System.Linq;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace FlowOod.Persistence;

/// <summary>Tensor ↔ little-endian bytes for the element types a model file stores.</summary>
internal static class TensorCodec
{
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Int64 => "int64",
        ScalarType.Int32 => "int32",
        ScalarType.Byte => "uint8",
        ScalarType.Bool => "bool",
        _ => throw new NotSupportedException($"Model files do not store {dtype} tensors (float32, float64, int64, int32, uint8 and bool are supported)."),
    };

    /// <summary>The floating dtype of a flow's state (float32 when it has no floating tensors).</summary>
    public static ScalarType FloatingDtype(NormalizingFlow flow) => Models.FlowCopy.FloatingDtype(flow);

    public static bool TryParse(string name, out ScalarType dtype, out int elementSize)
    {
        (dtype, elementSize) = name switch
        {
            "float32" => (ScalarType.Float32, 4),
            "float64" => (ScalarType.Float64, 8),
            "int64" => (ScalarType.Int64, 8),
            "int32" => (ScalarType.Int32, 4),
            "uint8" => (ScalarType.Byte, 1),
            "bool" => (ScalarType.Bool, 1),
            _ => (ScalarType.Float32, 0),
        };
        return elementSize != 0;
    }

    /// <summary>The bytes of a CPU tensor, in row-major order.</summary>
    public static byte[] ToBytes(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var cpu = tensor.detach().cpu().contiguous();
        return cpu.dtype switch
        {
            ScalarType.Float32 => MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()).ToArray(),
            ScalarType.Float64 => MemoryMarshal.AsBytes(cpu.data<double>().ToArray().AsSpan()).ToArray(),
            ScalarType.Int64 => MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()).ToArray(),
            ScalarType.Int32 => MemoryMarshal.AsBytes(cpu.data<int>().ToArray().AsSpan()).ToArray(),
            ScalarType.Byte => cpu.data<byte>().ToArray(),
            ScalarType.Bool => MemoryMarshal.AsBytes(cpu.data<bool>().ToArray().AsSpan()).ToArray(),
            var other => throw new NotSupportedException($"Model files do not store {other} tensors."),
        };
    }

    /// <summary>Stored bool bytes (0 or 1) as bools; any other byte is a format error naming the file and the tensor.</summary>
    public static bool[] ToBools(byte[] bytes, string path, string tensorName)
    {
        var values = new bool[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            values[i] = bytes[i] switch
            {
                0 => false,
                1 => true,
                var b => throw ModelContainer.Error(
                    path, $"bool tensor '{tensorName}' holds the byte {b} at index {i}; only 0 and 1 are valid (the file is damaged)"),
            };
        }

        return values;
    }
}
