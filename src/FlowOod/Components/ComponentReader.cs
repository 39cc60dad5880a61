using System;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// A stored component's fields, read through typed, bounded accessors. Every accessor rejects a missing, mistyped or
/// out-of-range value with a <see cref="ComponentFormatException"/> naming its path, e.g.
/// <c>$.flows[0].options.spatialMask.axis</c>.
/// </summary>
public sealed class ComponentReader
{
    private readonly JsonObject fields;

    internal ComponentReader(JsonObject fields, string path, ComponentCatalog catalog)
    {
        this.fields = fields;
        Path = path;
        Catalog = catalog;
    }

    /// <summary>The path of this component's object, e.g. <c>$.flows[0].options</c>.</summary>
    public string Path { get; }

    /// <summary>The catalog nested components are read from.</summary>
    public ComponentCatalog Catalog { get; }

    /// <summary>Reads an integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="min">The smallest allowed value.</param>
    /// <param name="max">The largest allowed value.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not an integer or out of range.</exception>
    public int ReadInt(string name, int min, int max) => (int)ReadLong(name, min, max);

    /// <summary>Reads a 64-bit integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="min">The smallest allowed value.</param>
    /// <param name="max">The largest allowed value.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not an integer or out of range.</exception>
    public long ReadLong(string name, long min, long max)
    {
        if (Node(name) is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out long result))
        {
            throw Invalid(name, "must be an integer");
        }

        return result >= min && result <= max ? result : throw Invalid(name, $"= {result} is outside [{min}, {max}]");
    }

    /// <summary>Reads a finite number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="min">The smallest allowed value.</param>
    /// <param name="max">The largest allowed value.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not a finite number or out of range.</exception>
    public double ReadDouble(string name, double min, double max)
    {
        if (Node(name) is not JsonValue value || value.GetValueKind() != JsonValueKind.Number || !value.TryGetValue(out double result)
            || !double.IsFinite(result))
        {
            throw Invalid(name, "must be a finite number");
        }

        return result >= min && result <= max
            ? result
            : throw Invalid(name, $"= {result.ToString("R", CultureInfo.InvariantCulture)} is outside [{min}, {max}]");
    }

    /// <summary>Reads true or false.</summary>
    /// <param name="name">The field's name.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing or not a boolean.</exception>
    public bool ReadBool(string name) =>
        Node(name) is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False
            ? value.GetValue<bool>()
            : throw Invalid(name, "must be true or false");

    /// <summary>Reads a string of at most <paramref name="maxLength"/> characters.</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="maxLength">The longest allowed string.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not a string or too long.</exception>
    public string ReadString(string name, int maxLength)
    {
        var value = Node(name) is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Invalid(name, "must be a string");
        return value.Length <= maxLength ? value : throw Invalid(name, $"is longer than {maxLength} characters");
    }

    /// <summary>Reads an enum value stored by its name (case-sensitive; numbers are refused).</summary>
    /// <typeparam name="TEnum">The enum type.</typeparam>
    /// <param name="name">The field's name.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing or not the name of a defined value.</exception>
    public TEnum ReadEnum<TEnum>(string name)
        where TEnum : struct, System.Enum
    {
        var text = ReadString(name, 64);
        return text.Length > 0 && char.IsAsciiLetter(text[0]) && System.Enum.TryParse<TEnum>(text, ignoreCase: false, out var value) && System.Enum.IsDefined(value)
            ? value
            : throw Invalid(name, $"\"{text}\" is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");
    }

    /// <summary>Reads a nested component of kind <typeparamref name="TKind"/>, stored as <c>{"type": name, ...}</c>.</summary>
    /// <typeparam name="TKind">The kind, e.g. <c>IMaskStrategy</c> (marked with <see cref="ComponentKindAttribute"/>).</typeparam>
    /// <param name="name">The field's name.</param>
    /// <returns>The component.</returns>
    /// <exception cref="ComponentFormatException">The value is missing or invalid, or names a component the catalog does not hold.</exception>
    public TKind ReadComponent<TKind>(string name)
        where TKind : class
    {
        var node = Node(name) as JsonObject ?? throw Invalid(name, "must be a JSON object");
        var at = $"{Path}.{name}";
        var type = new ComponentReader(node, at, Catalog).ReadString("type", 64);
        return Catalog.Read<TKind>(type, node, at);
    }

    /// <summary>Reads a nested component, or null when the field is missing or JSON <c>null</c>.</summary>
    /// <typeparam name="TKind">The kind, e.g. <c>IConditionerFactory</c>.</typeparam>
    /// <param name="name">The field's name.</param>
    /// <returns>The component or null.</returns>
    /// <exception cref="ComponentFormatException">The value is invalid or names a component the catalog does not hold.</exception>
    public TKind? ReadOptionalComponent<TKind>(string name)
        where TKind : class =>
        fields.TryGetPropertyValue(name, out var node) && node is not null ? ReadComponent<TKind>(name) : null;

    /// <summary>An exception for a problem your <c>Read</c> finds in a field, naming its path.</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="problem">What is wrong, e.g. <c>"must be even"</c>.</param>
    /// <returns>The exception, to throw.</returns>
    public ComponentFormatException Invalid(string name, string problem) => new($"Value {Path}.{name} {problem}.");

    private JsonNode Node(string name) =>
        fields.TryGetPropertyValue(name, out var node) && node is not null
            ? node
            : throw new ComponentFormatException($"Value {Path}.{name} is missing.");
}
