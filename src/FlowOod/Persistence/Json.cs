using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowOod.Persistence;

/// <summary>
/// Strict readers for the JSON header: every value is checked for presence, type and range, and every failure is a
/// <see cref="HeaderException"/> naming the JSON path (<see cref="ModelFile"/> adds the file), so a damaged header never surfaces as a bare JSON or cast error.
/// </summary>
internal static class Json
{
    public static JsonObject Object(JsonObject parent, string name, string path) =>
        Node(parent, name, path) as JsonObject ?? throw Invalid(path, name, "must be a JSON object");

    public static JsonArray Array(JsonObject parent, string name, string path, int maxLength) =>
        Node(parent, name, path) is JsonArray array
            ? array.Count <= maxLength ? array : throw Invalid(path, name, $"has {array.Count} entries, more than the {maxLength} allowed")
            : throw Invalid(path, name, "must be a JSON array");

    public static string String(JsonObject parent, string name, string path, int maxLength = 256)
    {
        var value = Value(parent, name, path, JsonValueKind.String).GetValue<string>();
        return value.Length <= maxLength ? value : throw Invalid(path, name, $"is longer than {maxLength} characters");
    }

    public static bool Bool(JsonObject parent, string name, string path)
    {
        var node = Node(parent, name, path);
        return node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False
            ? value.GetValue<bool>()
            : throw Invalid(path, name, "must be true or false");
    }

    public static long Long(JsonObject parent, string name, string path, long min, long max) =>
        Long(Node(parent, name, path), $"{path}.{name}", min, max);

    public static long Long(JsonNode? node, string where, long min, long max)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out long result))
        {
            throw new HeaderException($"Header value {where} must be an integer.");
        }

        return result >= min && result <= max
            ? result
            : throw new HeaderException($"Header value {where} = {result} is outside [{min}, {max}].");
    }

    public static int Int(JsonObject parent, string name, string path, int min, int max) => (int)Long(parent, name, path, min, max);

    public static ulong ULong(JsonObject parent, string name, string path)
    {
        var node = Node(parent, name, path);
        return node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue(out ulong result)
            ? result
            : throw Invalid(path, name, "must be a non-negative integer");
    }

    public static double Double(JsonObject parent, string name, string path, double min = double.MinValue, double max = double.MaxValue) =>
        Double(Node(parent, name, path), $"{path}.{name}", min, max);

    public static double Double(JsonNode? node, string where, double min = double.MinValue, double max = double.MaxValue)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out double result)
            || !double.IsFinite(result))
        {
            throw new HeaderException($"Header value {where} must be a finite number.");
        }

        return result >= min && result <= max
            ? result
            : throw new HeaderException($"Header value {where} = {result.ToString("R", CultureInfo.InvariantCulture)} is outside [{min}, {max}].");
    }

    public static TEnum Enum<TEnum>(JsonObject parent, string name, string path)
        where TEnum : struct, System.Enum
    {
        var text = String(parent, name, path, 64);
        return System.Enum.TryParse<TEnum>(text, ignoreCase: false, out var value) && System.Enum.IsDefined(value) && text.Length > 0 && char.IsAsciiLetter(text[0])
            ? value
            : throw Invalid(path, name, $"\"{text}\" is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");
    }

    public static long[] LongArray(JsonObject parent, string name, string path, int maxLength, long min, long max)
    {
        var array = Array(parent, name, path, maxLength);
        var result = new long[array.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = Long(array[i], $"{path}.{name}[{i}]", min, max);
        }

        return result;
    }

    public static double[] DoubleArray(JsonObject parent, string name, string path, int maxLength)
    {
        var array = Array(parent, name, path, maxLength);
        var result = new double[array.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = Double(array[i], $"{path}.{name}[{i}]");
        }

        return result;
    }

    public static JsonArray ToArray(IEnumerable<long> values)
    {
        var array = new JsonArray();
        foreach (var value in values)
        {
            array.Add(value);
        }

        return array;
    }

    public static JsonArray ToArray(IEnumerable<double> values)
    {
        var array = new JsonArray();
        foreach (var value in values)
        {
            array.Add(value);
        }

        return array;
    }

    private static JsonNode Node(JsonObject parent, string name, string path) =>
        parent.TryGetPropertyValue(name, out var node) && node is not null
            ? node
            : throw new HeaderException($"Header value {path}.{name} is missing.");

    private static JsonValue Value(JsonObject parent, string name, string path, JsonValueKind kind) =>
        Node(parent, name, path) is JsonValue value && value.GetValueKind() == kind
            ? value
            : throw Invalid(path, name, $"must be a {kind.ToString().ToLowerInvariant()}");

    private static HeaderException Invalid(string path, string name, string problem) =>
        new($"Header value {path}.{name} {problem}.");
}
