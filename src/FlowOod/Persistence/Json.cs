using System;
using System.Collections.Generic;
using System.Text.Json.Nodes;
using FlowOod.Components;

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

    public static string String(JsonObject parent, string name, string path, int maxLength = 256) =>
        JsonValues.String(Node(parent, name, path), maxLength, out var value) is { } problem ? throw Invalid(path, name, problem) : value;

    public static bool Bool(JsonObject parent, string name, string path) =>
        JsonValues.Bool(Node(parent, name, path), out var value) is { } problem ? throw Invalid(path, name, problem) : value;

    public static long Long(JsonObject parent, string name, string path, long min, long max) =>
        Long(Node(parent, name, path), $"{path}.{name}", min, max);

    public static long Long(JsonNode? node, string where, long min, long max) =>
        JsonValues.Long(node, min, max, out var value) is { } problem ? throw new HeaderException($"Header value {where} {problem}.") : value;

    public static int Int(JsonObject parent, string name, string path, int min, int max) => (int)Long(parent, name, path, min, max);

    public static ulong ULong(JsonObject parent, string name, string path) =>
        JsonValues.ULong(Node(parent, name, path), out var value) is { } problem ? throw Invalid(path, name, problem) : value;

    public static double Double(JsonObject parent, string name, string path, double min = double.MinValue, double max = double.MaxValue) =>
        Double(Node(parent, name, path), $"{path}.{name}", min, max);

    public static double Double(JsonNode? node, string where, double min = double.MinValue, double max = double.MaxValue) =>
        JsonValues.Double(node, min, max, out var value) is { } problem ? throw new HeaderException($"Header value {where} {problem}.") : value;

    public static TEnum Enum<TEnum>(JsonObject parent, string name, string path)
        where TEnum : struct, System.Enum =>
        JsonValues.Enum<TEnum>(String(parent, name, path, 64), out var value) is { } problem ? throw Invalid(path, name, problem) : value;

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

    private static HeaderException Invalid(string path, string name, string problem) =>
        new($"Header value {path}.{name} {problem}.");
}
