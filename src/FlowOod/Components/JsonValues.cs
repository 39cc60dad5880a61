using System;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// The one set of rules for reading a JSON value of a model file, shared by the header reader (Persistence) and
/// <see cref="ComponentReader"/>: each returns null and the value when it is acceptable, or the problem (e.g.
/// <c>"must be an integer"</c>) for the caller to wrap in its own exception with the value's path.
/// </summary>
internal static class JsonValues
{
    public static string? Long(JsonNode? node, long min, long max, out long result)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out result))
        {
            result = 0;
            return "must be an integer";
        }

        return result >= min && result <= max ? null : $"= {result} is outside [{min}, {max}]";
    }

    public static string? ULong(JsonNode? node, out ulong result)
    {
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue(out result))
        {
            return null;
        }

        result = 0;
        return "must be a non-negative integer";
    }

    public static string? Double(JsonNode? node, double min, double max, out double result)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out result)
            || !double.IsFinite(result))
        {
            result = 0;
            return "must be a finite number";
        }

        return result >= min && result <= max ? null : $"= {result.ToString("R", CultureInfo.InvariantCulture)} is outside [{min}, {max}]";
    }

    public static string? Bool(JsonNode? node, out bool result)
    {
        if (node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            result = value.GetValue<bool>();
            return null;
        }

        result = false;
        return "must be true or false";
    }

    public static string? String(JsonNode? node, int maxLength, out string result)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.String)
        {
            result = string.Empty;
            return "must be a string";
        }

        result = value.GetValue<string>();
        return result.Length <= maxLength ? null : $"is longer than {maxLength} characters";
    }

    /// <summary>An enum value stored by its name (case-sensitive; numbers and numeric strings are refused).</summary>
    public static string? Enum<TEnum>(string text, out TEnum result)
        where TEnum : struct, System.Enum
    {
        result = default;
        return text.Length > 0 && char.IsAsciiLetter(text[0]) && System.Enum.TryParse(text, ignoreCase: false, out result) && System.Enum.IsDefined(result)
            ? null
            : $"\"{text}\" is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}";
    }
}
