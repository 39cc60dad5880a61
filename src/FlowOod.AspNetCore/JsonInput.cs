using System;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using FlowOod.Data;

namespace FlowOod.AspNetCore;

/// <summary>
/// The two JSON bodies the classify endpoint reads, streamed with <see cref="Utf8JsonReader"/> into one array of
/// prod(InputShape) values (nothing sized by the client is allocated):
/// <c>{"pixels": [v, ...]}</c>, the values row-major (channel-planar for several channels), and
/// <c>{"image": [[v, ...], ...]}</c>, nested arrays of exactly the gate's input shape, or of that shape without its
/// leading 1 (so a list of rows for a [1, H, W] gate). Every v is a JSON number in 0..255 and becomes v / 255.
/// </summary>
internal static class JsonInput
{
    private const string Forms = "send {\"pixels\": [...]} or {\"image\": [[...], ...]}";

    public static float[] Parse(ReadOnlySpan<byte> json, InputLayout layout)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw BadInputException.Malformed($"The JSON body is not an object; {Forms}.");
            }

            float[]? values = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool pixels = reader.ValueTextEquals("pixels"u8);
                if (!pixels && !reader.ValueTextEquals("image"u8))
                {
                    // ValueSpan may be invalid UTF-8 (GetString would throw); the decoder replaces bad bytes.
                    throw BadInputException.Malformed($"The JSON body has an unknown property '{Short(Encoding.UTF8.GetString(reader.ValueSpan))}'; {Forms}.");
                }

                if (values is not null)
                {
                    throw BadInputException.Malformed($"The JSON body has more than one of \"pixels\" and \"image\"; {Forms}.");
                }

                reader.Read();
                values = pixels ? ReadFlat(ref reader, layout) : ReadNested(ref reader, layout);
            }

            if (reader.TokenType != JsonTokenType.EndObject)
            {
                throw BadInputException.Malformed($"The JSON body is malformed; {Forms}.");
            }

            if (reader.Read())
            {
                throw BadInputException.Malformed("The JSON body has content after its object.");
            }

            return values ?? throw BadInputException.Malformed($"The JSON body has neither \"pixels\" nor \"image\"; {Forms}.");
        }
        catch (JsonException e)
        {
            throw BadInputException.Malformed($"The JSON body is malformed: {e.Message}");
        }
    }

    private static float[] ReadFlat(ref Utf8JsonReader reader, InputLayout layout)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw BadInputException.Malformed($"\"pixels\" must be an array of {layout.Length} numbers.");
        }

        var values = new float[layout.Length];
        int count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == values.Length)
            {
                throw BadInputException.Malformed($"\"pixels\" has more than the {layout.Length} values of this gate's input {layout.Describe()}.");
            }

            values[count] = ReadValue(ref reader, count);
            count++;
        }

        if (count != values.Length)
        {
            throw BadInputException.Malformed($"\"pixels\" has {count} values; this gate's input {layout.Describe()} takes {layout.Length}.");
        }

        return values;
    }

    private static float[] ReadNested(ref Utf8JsonReader reader, InputLayout layout)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw BadInputException.Malformed($"\"image\" must be nested arrays of numbers shaped {layout.Describe()}.");
        }

        var full = layout.Shape.Select(d => (int)d).ToArray();
        int[]? dims = null;           // dims[k]: the length every array at depth k + 1 must have
        var counts = new int[18];     // counts[d]: entries so far in the array open at depth d
        var values = new float[layout.Length];
        int depth = 0, written = 0;
        do
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    if (dims is not null && depth >= dims.Length)
                    {
                        throw BadInputException.Malformed($"\"image\" is nested deeper than this gate's input {layout.Describe()}.");
                    }

                    if (depth > 0)
                    {
                        Count(counts, depth, dims, layout);
                    }

                    depth++;
                    counts[depth] = 0;
                    break;
                case JsonTokenType.EndArray:
                    if (dims is null)
                    {
                        throw BadInputException.Malformed($"\"image\" has an empty array; this gate takes {layout.Describe()}.");
                    }

                    if (counts[depth] != dims[depth - 1])
                    {
                        throw BadInputException.Malformed(
                            $"\"image\" has an array of {counts[depth]} entries at nesting level {depth}, not {dims[depth - 1]}; this gate takes {layout.Describe()}.");
                    }

                    depth--;
                    break;
                default:
                    dims ??= depth == full.Length ? full : depth == full.Length - 1 && full[0] == 1 ? full[1..]
                        : throw BadInputException.Malformed(
                            $"\"image\" is nested {depth} deep; this gate's input {layout.Describe()} takes {full.Length} levels (or {full.Length - 1} when its first size is 1).");
                    if (depth != dims.Length)
                    {
                        throw BadInputException.Malformed($"\"image\" has a number at nesting level {depth}; numbers belong at level {dims.Length} for {layout.Describe()}.");
                    }

                    Count(counts, depth, dims, layout);
                    values[written] = ReadValue(ref reader, written);
                    written++;
                    break;
            }
        }
        while (depth > 0 && reader.Read());

        if (depth > 0 || written != values.Length)
        {
            throw BadInputException.Malformed($"\"image\" holds {written} numbers; this gate's input {layout.Describe()} takes {layout.Length}.");
        }

        return values;
    }

    // One more entry in the array open at depth; refused past the length the gate's shape gives that level.
    private static void Count(int[] counts, int depth, int[]? dims, InputLayout layout)
    {
        counts[depth]++;
        if (dims is not null && counts[depth] > dims[depth - 1])
        {
            throw BadInputException.Malformed(
                $"\"image\" has more than {dims[depth - 1]} entries in an array at nesting level {depth}; this gate takes {layout.Describe()}.");
        }
    }

    private static float ReadValue(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            throw BadInputException.Malformed(
                $"Value {index} is {Describe(reader.TokenType)}, not a number; values are numbers in 0..255 (NaN and Infinity are refused).");
        }

        if (!reader.TryGetDouble(out double v) || !double.IsFinite(v))
        {
            throw BadInputException.Malformed($"Value {index} is not a finite number; values are numbers in 0..255.");
        }

        if (v is < 0 or > 255)
        {
            throw BadInputException.Malformed($"Value {index} is {v.ToString("G6", CultureInfo.InvariantCulture)}, outside 0..255.");
        }

        return PixelScale.ToUnit((float)v);
    }

    private static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString(),
    };

    private static string Short(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
