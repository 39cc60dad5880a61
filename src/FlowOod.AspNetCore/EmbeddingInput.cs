using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FlowOod.AspNetCore;

/// <summary>
/// The bodies the embeddings endpoint reads, each into rows of exactly D float32 values (nothing sized by the client is
/// allocated beyond the body's own bound): <c>application/json</c> <c>{"embedding": [v, ...]}</c> (one row) or
/// <c>{"embeddings": [[v, ...], ...]}</c> (rows), and <c>application/octet-stream</c>, rows of D little-endian float32
/// back to back (length a multiple of 4·D). Every value must be finite in float32; more than the row limit is 413.
/// </summary>
internal static class EmbeddingInput
{
    private const string Forms = "send {\"embedding\": [...]} or {\"embeddings\": [[...], ...]}";

    /// <summary>Parses a whole body into rows; <paramref name="single"/> is true for the one-row JSON form.</summary>
    public static List<float[]> Parse(RequestFormat format, ReadOnlySpan<byte> body, int dimension, int maxRows, out bool single)
    {
        single = false;
        if (body.IsEmpty)
        {
            throw BadInputException.Malformed("The request body is empty.");
        }

        return format switch
        {
            RequestFormat.Raw => ParseRaw(body, dimension, maxRows),
            RequestFormat.Json => ParseJson(body, dimension, maxRows, out single),
            _ => throw BadInputException.Unsupported("The embeddings endpoint takes application/json or application/octet-stream (little-endian float32 rows)."),
        };
    }

    private static List<float[]> ParseRaw(ReadOnlySpan<byte> body, int dimension, int maxRows)
    {
        var rowBytes = 4 * dimension;
        if (body.Length % rowBytes != 0)
        {
            throw BadInputException.Malformed(Invariant(
                $"The body holds {body.Length} bytes, not a multiple of {rowBytes} (rows of {dimension} little-endian float32 values)."));
        }

        var count = body.Length / rowBytes;
        CheckRows(count, maxRows);
        var rows = new List<float[]>(count);
        for (int i = 0; i < count; i++)
        {
            var row = new float[dimension];
            for (int j = 0; j < dimension; j++)
            {
                row[j] = BinaryPrimitives.ReadSingleLittleEndian(body.Slice((i * rowBytes) + (4 * j), 4));
                if (!float.IsFinite(row[j]))
                {
                    throw BadInputException.Malformed(Invariant($"Row {i}, value {j} is {row[j]}; embeddings must be finite."));
                }
            }

            rows.Add(row);
        }

        return rows;
    }

    private static List<float[]> ParseJson(ReadOnlySpan<byte> json, int dimension, int maxRows, out bool single)
    {
        single = false;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw BadInputException.Malformed($"The JSON body is not an object; {Forms}.");
            }

            List<float[]>? rows = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var one = reader.ValueTextEquals("embedding"u8);
                if (!one && !reader.ValueTextEquals("embeddings"u8))
                {
                    throw BadInputException.Malformed($"The JSON body has an unknown property '{Short(Encoding.UTF8.GetString(reader.ValueSpan))}'; {Forms}.");
                }

                if (rows is not null)
                {
                    throw BadInputException.Malformed($"The JSON body has more than one of \"embedding\" and \"embeddings\"; {Forms}.");
                }

                reader.Read();
                if (one)
                {
                    single = true;
                    rows = [ReadRow(ref reader, dimension, "\"embedding\"", 0)];
                }
                else
                {
                    rows = ReadRows(ref reader, dimension, maxRows);
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject)
            {
                throw BadInputException.Malformed($"The JSON body is malformed; {Forms}.");
            }

            if (reader.Read())
            {
                throw BadInputException.Malformed("The JSON body has content after its object.");
            }

            return rows ?? throw BadInputException.Malformed($"The JSON body has neither \"embedding\" nor \"embeddings\"; {Forms}.");
        }
        catch (JsonException e)
        {
            throw BadInputException.Malformed($"The JSON body is malformed: {e.Message}");
        }
    }

    private static List<float[]> ReadRows(ref Utf8JsonReader reader, int dimension, int maxRows)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw BadInputException.Malformed($"\"embeddings\" must be an array of rows, each an array of {dimension} numbers.");
        }

        var rows = new List<float[]>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            CheckRows(rows.Count + 1, maxRows);
            rows.Add(ReadRow(ref reader, dimension, Invariant($"\"embeddings\" row {rows.Count}"), rows.Count));
        }

        return rows.Count > 0 ? rows : throw BadInputException.Malformed("\"embeddings\" holds no rows.");
    }

    private static float[] ReadRow(ref Utf8JsonReader reader, int dimension, string what, int index)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw BadInputException.Malformed(Invariant($"{what} must be an array of {dimension} numbers."));
        }

        var row = new float[dimension];
        int count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == dimension)
            {
                throw BadInputException.Malformed(Invariant($"{what} has more than the {dimension} values of this detector's rows."));
            }

            if (reader.TokenType != JsonTokenType.Number)
            {
                throw BadInputException.Malformed(Invariant($"Row {index}, value {count} is not a number (NaN and Infinity are refused)."));
            }

            if (!reader.TryGetDouble(out var v) || !float.IsFinite((float)v))
            {
                throw BadInputException.Malformed(Invariant($"Row {index}, value {count} is not a finite float32 number."));
            }

            row[count++] = (float)v;
        }

        return count == dimension
            ? row
            : throw BadInputException.Malformed(Invariant($"{what} has {count} values; this detector's rows have {dimension}."));
    }

    private static void CheckRows(int count, int maxRows)
    {
        if (count > maxRows)
        {
            throw BadInputException.TooLarge(Invariant($"The request holds more than {maxRows} rows (MaxRowsPerRequest); split it."));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Short(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
