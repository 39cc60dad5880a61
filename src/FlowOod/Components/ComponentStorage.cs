using System.Collections.Generic;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// Where a component's values that are not settings go when a model file saves it: flows and fitted vectors are stored
/// as tensors, and the component's field holds a reference (a flow's index, a tensor's name). Implemented by the model
/// file; a description that holds settings only (a flow's architecture) has none.
/// </summary>
internal interface IComponentSink
{
    /// <summary>Stores <paramref name="value"/> (a flow, or a list of flows) and returns the reference to write in <paramref name="field"/>.</summary>
    /// <exception cref="System.NotSupportedException">The container does not store values of this type.</exception>
    JsonNode Store<T>(T value, string field)
        where T : class;

    /// <summary>Stores a float64 vector and returns the reference to write in <paramref name="field"/>.</summary>
    JsonNode StoreDoubles(IReadOnlyList<double> values, string field);
}

/// <summary>
/// What a component being read gets from its container besides its fields: the values its sink stored, the container's
/// format version, and the objects the caller passed at load time (code a file cannot store).
/// </summary>
internal interface IComponentSource
{
    /// <summary>The format version of the container being read.</summary>
    uint FormatVersion { get; }

    /// <summary>Rebuilds the value whose reference is <paramref name="fields"/>.<paramref name="field"/>; it belongs to the component read.</summary>
    T Load<T>(JsonObject fields, string field, string path)
        where T : class;

    /// <summary>The float64 vector referenced by <paramref name="fields"/>.<paramref name="field"/>, of <paramref name="count"/> entries when given.</summary>
    double[] LoadDoubles(JsonObject fields, string field, string path, int? count);

    /// <summary>The objects of type <typeparamref name="T"/> the caller passed at load time.</summary>
    IReadOnlyList<T> Provided<T>()
        where T : class;

    /// <summary>The exception for an object the caller must pass at load time and did not.</summary>
    System.ArgumentException NotProvided(string message);
}

/// <summary>A description of settings only, read with a container's format version: nothing stored beside it, nothing provided.</summary>
internal sealed class SettingsOnlySource(uint formatVersion) : IComponentSource
{
    public uint FormatVersion { get; } = formatVersion;

    public T Load<T>(JsonObject fields, string field, string path)
        where T : class =>
        throw new ComponentFormatException($"Value {path}.{field}: this description holds settings only; it cannot refer to stored {typeof(T).Name} values.");

    public double[] LoadDoubles(JsonObject fields, string field, string path, int? count) =>
        throw new ComponentFormatException($"Value {path}.{field}: this description holds settings only; it cannot refer to stored vectors.");

    public IReadOnlyList<T> Provided<T>()
        where T : class =>
        [];

    public System.ArgumentException NotProvided(string message) => new(message);
}
