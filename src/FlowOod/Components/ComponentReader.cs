using System;
using System.Collections.Generic;
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
    private readonly IComponentSource source;

    internal ComponentReader(JsonObject fields, string path, ComponentCatalog catalog, IComponentSource source)
    {
        this.fields = fields;
        this.source = source;
        Path = path;
        Catalog = catalog;
    }

    /// <summary>The path of this component's object, e.g. <c>$.flows[0].options</c>.</summary>
    public string Path { get; }

    /// <summary>The catalog nested components are read from.</summary>
    public ComponentCatalog Catalog { get; }

    /// <summary>
    /// The format version of the model file being read, for a component whose stored meaning changed between versions
    /// (e.g. a scorer's noise <c>"Seeded"</c> in version 1).
    /// </summary>
    public int FormatVersion => (int)source.FormatVersion;

    /// <summary>
    /// The objects of type <typeparamref name="T"/> the caller passed at load time, for a component that holds code a
    /// file cannot store (a feature extractor, a compressor, ...): a model file's loader hands over what its options'
    /// catalog (<c>ModelLoadOptions.Catalog</c>) holds: feature extractor, compressors and provided objects, in that order.
    /// </summary>
    /// <typeparam name="T">The type asked for, e.g. <c>ICompressor</c>.</typeparam>
    /// <returns>The matching objects, in the order given (empty when none).</returns>
    public IReadOnlyList<T> Provided<T>()
        where T : class =>
        source.Provided<T>();

    /// <summary>
    /// An exception for an object the caller must pass at load time and did not (see <see cref="Provided{T}"/>); the load
    /// method throws it as an <see cref="ArgumentException"/> for its options, not as a file error.
    /// </summary>
    /// <param name="message">What is missing and how to pass it.</param>
    /// <returns>The exception, to throw.</returns>
    public ArgumentException NotProvided(string message)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(message);
        return source.NotProvided(message);
    }

    /// <summary>Reads a float64 vector of exactly <paramref name="count"/> entries written by <see cref="ComponentWriter.WriteDoubles"/>.</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="count">The number of entries expected (the file's declared shape is checked before anything is read).</param>
    /// <returns>The values, all finite.</returns>
    /// <exception cref="ComponentFormatException">The field is missing or invalid, or this description holds settings only.</exception>
    public double[] ReadDoubles(string name, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return source.LoadDoubles(fields, name, Path, count);
    }

    /// <summary>Reads a float64 vector of any length written by <see cref="ComponentWriter.WriteDoubles"/>.</summary>
    /// <param name="name">The field's name.</param>
    /// <returns>The values, all finite.</returns>
    /// <exception cref="ComponentFormatException">The field is missing or invalid, or this description holds settings only.</exception>
    public double[] ReadDoubles(string name) => source.LoadDoubles(fields, name, Path, null);

    /// <summary>Rebuilds a value stored beside the description (a flow); it belongs to the component being read.</summary>
    internal T ReadStored<T>(string name)
        where T : class =>
        source.Load<T>(fields, name, Path);

    /// <summary>The nested object of fields (no <c>"type"</c>) written by <see cref="ComponentWriter.WriteObject"/>.</summary>
    internal ComponentReader ReadObject(string name) =>
        new(Node(name) as JsonObject ?? throw Invalid(name, "must be a JSON object"), $"{Path}.{name}", Catalog, source);

    /// <summary>Reads an unsigned 64-bit integer.</summary>
    internal ulong ReadULong(string name) => JsonValues.ULong(Node(name), out var value) is { } problem ? throw Invalid(name, problem) : value;

    /// <summary>
    /// A nested component stored as <c>{"type": name, ...}</c> or, when it has no fields, as the bare name: the name and
    /// a reader of its fields.
    /// </summary>
    internal (string Name, Func<TKind> Read) ReadNamedComponent<TKind>(string name, int maxNameLength)
        where TKind : class
    {
        var at = $"{Path}.{name}";
        if (Node(name) is JsonObject described)
        {
            var type = new ComponentReader(described, at, Catalog, source).ReadString("type", 64);
            return (type, () => Catalog.Read<TKind>(type, described, at, source));
        }

        var bare = ReadString(name, maxNameLength);
        return (bare, () => Catalog.Read<TKind>(bare, [], at, source));
    }

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
    public long ReadLong(string name, long min, long max) =>
        JsonValues.Long(Node(name), min, max, out var value) is { } problem ? throw Invalid(name, problem) : value;

    /// <summary>Reads a finite number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="min">The smallest allowed value.</param>
    /// <param name="max">The largest allowed value.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not a finite number or out of range.</exception>
    public double ReadDouble(string name, double min, double max) =>
        JsonValues.Double(Node(name), min, max, out var value) is { } problem ? throw Invalid(name, problem) : value;

    /// <summary>Reads true or false.</summary>
    /// <param name="name">The field's name.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing or not a boolean.</exception>
    public bool ReadBool(string name) => JsonValues.Bool(Node(name), out var value) is { } problem ? throw Invalid(name, problem) : value;

    /// <summary>Reads a string of at most <paramref name="maxLength"/> characters.</summary>
    /// <param name="name">The field's name.</param>
    /// <param name="maxLength">The longest allowed string.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing, not a string or too long.</exception>
    public string ReadString(string name, int maxLength) =>
        JsonValues.String(Node(name), maxLength, out var value) is { } problem ? throw Invalid(name, problem) : value;

    /// <summary>Reads an enum value stored by its name (case-sensitive; numbers are refused).</summary>
    /// <typeparam name="TEnum">The enum type.</typeparam>
    /// <param name="name">The field's name.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ComponentFormatException">The value is missing or not the name of a defined value.</exception>
    public TEnum ReadEnum<TEnum>(string name)
        where TEnum : struct, System.Enum
        => JsonValues.Enum<TEnum>(ReadString(name, 64), out var value) is { } problem ? throw Invalid(name, problem) : value;

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
        var type = new ComponentReader(node, at, Catalog, source).ReadString("type", 64);
        return Catalog.Read<TKind>(type, node, at, source);
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

    /// <summary>Whether the field is present and not JSON <c>null</c> (for fields only some files carry).</summary>
    internal bool ContainsField(string name) => fields.TryGetPropertyValue(name, out var node) && node is not null;

    private JsonNode Node(string name) =>
        fields.TryGetPropertyValue(name, out var node) && node is not null
            ? node
            : throw new ComponentFormatException($"Value {Path}.{name} is missing.");
}
