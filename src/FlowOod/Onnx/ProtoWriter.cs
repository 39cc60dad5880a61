using System;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.Text;

namespace FlowOod.Onnx;

/// <summary>
/// A protobuf message written field by field: varints (wire type 0), fixed 32-bit values (wire type 5) and
/// length-delimited fields (wire type 2), which is all the ONNX messages need. Nested messages are written to their own
/// writer first and embedded with <see cref="Message"/>; fields are written in the order they are added.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly ArrayBufferWriter<byte> buffer = new();

    /// <summary>Bytes written so far.</summary>
    public long Length => buffer.WrittenCount;

    /// <summary>A varint field (int32, int64, enum, bool); negative values take ten bytes, as protobuf specifies.</summary>
    public ProtoWriter Varint(int field, long value)
    {
        Key(field, 0);
        WriteVarint(unchecked((ulong)value));
        return this;
    }

    /// <summary>A float field (wire type 5, little-endian IEEE 754).</summary>
    public ProtoWriter Float(int field, float value)
    {
        Key(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        buffer.Write(bytes);
        return this;
    }

    /// <summary>A length-delimited field holding <paramref name="bytes"/>.</summary>
    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> bytes)
    {
        Key(field, 2);
        WriteVarint((ulong)bytes.Length);
        buffer.Write(bytes);
        return this;
    }

    /// <summary>A string field, UTF-8.</summary>
    public ProtoWriter Text(int field, string text) => Bytes(field, Encoding.UTF8.GetBytes(text));

    /// <summary>An embedded message.</summary>
    public ProtoWriter Message(int field, ProtoWriter message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Key(field, 2);
        WriteVarint((ulong)message.buffer.WrittenCount);
        buffer.Write(message.buffer.WrittenSpan);
        return this;
    }

    /// <summary>Copies the encoded message to <paramref name="destination"/>.</summary>
    public void CopyTo(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        destination.Write(buffer.WrittenSpan);
    }

    /// <summary>The encoded message.</summary>
    public byte[] ToArray() => buffer.WrittenSpan.ToArray();

    private void Key(int field, int wireType)
    {
        if (field <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(field), field, "Protobuf field numbers are positive.");
        }

        WriteVarint(((ulong)field << 3) | (uint)wireType);
    }

    private void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            buffer.GetSpan(1)[0] = (byte)(value | 0x80);
            buffer.Advance(1);
            value >>= 7;
        }

        buffer.GetSpan(1)[0] = (byte)value;
        buffer.Advance(1);
    }
}
