using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace FlowOod.OnnxRuntime.Internal;

/// <summary>
/// The protobuf wire format, as far as <see cref="OnnxModels"/> needs it: reading the fields of a message (varint,
/// 64-bit, length-delimited and 32-bit values) and writing length-delimited fields. No schema, no protobuf library.
/// </summary>
internal static class ProtoWire
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32 = 5;

    /// <summary>The fields of one message in wire order; a length-delimited field's payload is a slice of <paramref name="message"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed protobuf message.</exception>
    public static List<Field> Read(ReadOnlyMemory<byte> message)
    {
        var fields = new List<Field>();
        var span = message.Span;
        var position = 0;
        while (position < span.Length)
        {
            var tag = ReadVarint(span, ref position);
            var number = (int)(tag >> 3);
            var wireType = (int)(tag & 7);
            if (number <= 0)
            {
                throw new InvalidDataException($"Field number {number} at byte {position} is not valid protobuf.");
            }

            switch (wireType)
            {
                case Varint:
                    fields.Add(new Field(number, wireType, ReadVarint(span, ref position), ReadOnlyMemory<byte>.Empty));
                    break;
                case Fixed64:
                    fields.Add(new Field(number, wireType, 0, Slice(message, ref position, 8)));
                    break;
                case LengthDelimited:
                    var length = ReadVarint(span, ref position);
                    if (length > int.MaxValue)
                    {
                        throw new InvalidDataException($"Field {number} claims {length} bytes.");
                    }

                    fields.Add(new Field(number, wireType, 0, Slice(message, ref position, (int)length)));
                    break;
                case Fixed32:
                    fields.Add(new Field(number, wireType, 0, Slice(message, ref position, 4)));
                    break;
                default:
                    throw new InvalidDataException($"Field {number} has wire type {wireType} (groups or invalid), which ONNX does not use.");
            }
        }

        return fields;
    }

    /// <summary>A length-delimited field's payload as UTF-8 text.</summary>
    public static string Text(this Field field) => Encoding.UTF8.GetString(field.Payload.Span);

    /// <summary>The first length-delimited field <paramref name="number"/> of <paramref name="message"/> as text, or null.</summary>
    public static string? FirstText(ReadOnlyMemory<byte> message, int number)
    {
        foreach (var field in Read(message))
        {
            if (field.Number == number && field.WireType == LengthDelimited)
            {
                return field.Text();
            }
        }

        return null;
    }

    /// <summary>Writes the key and length of a length-delimited field, then its payload.</summary>
    public static void WriteLengthDelimited(Stream output, int number, ReadOnlySpan<byte> payload)
    {
        WriteVarint(output, ((ulong)number << 3) | LengthDelimited);
        WriteVarint(output, (ulong)payload.Length);
        output.Write(payload);
    }

    private static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        output.WriteByte((byte)value);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                throw new InvalidDataException("The message ends inside a varint.");
            }

            var b = span[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new InvalidDataException("A varint is longer than 10 bytes.");
    }

    private static ReadOnlyMemory<byte> Slice(ReadOnlyMemory<byte> message, ref int position, int length)
    {
        if (length > message.Length - position)
        {
            throw new InvalidDataException($"A field of {length} bytes at byte {position} runs past the end of the message ({message.Length} bytes).");
        }

        var slice = message.Slice(position, length);
        position += length;
        return slice;
    }

    /// <summary>One field: its number, wire type, varint value (wire type 0) and payload (the other wire types).</summary>
    public readonly record struct Field(int Number, int WireType, ulong Value, ReadOnlyMemory<byte> Payload);
}
