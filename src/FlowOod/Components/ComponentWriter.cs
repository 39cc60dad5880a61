using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Reflection;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// Receives a component's settings as named, typed fields, in the order they are stored. Nested components are written
/// as objects whose first field, <c>"type"</c>, is their <see cref="ComponentNameAttribute"/> name.
/// </summary>
/// <remarks>
/// Writing needs no catalog: a component describes itself. A nested value that is not a component (it does not
/// implement <see cref="IComponent"/>, e.g. a <c>CustomMask</c> wrapping a delegate) makes the whole description
/// impossible; <see cref="FlowArchitecture.Of"/> then returns null and saving such a flow explains why.
/// </remarks>
public sealed class ComponentWriter
{
    private static readonly ConcurrentDictionary<Type, string?> Names = new();
    private readonly JsonObject fields = [];
    private readonly IComponentSink? sink;
    private readonly HashSet<Type>? visited;

    private ComponentWriter(IComponentSink? sink, HashSet<Type>? visited = null)
    {
        this.sink = sink;
        this.visited = visited;
    }

    /// <summary>Writes an integer.</summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The value.</param>
    public void WriteInt(string name, int value) => Add(name, JsonValue.Create(value));

    /// <summary>Writes a 64-bit integer.</summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The value.</param>
    public void WriteLong(string name, long value) => Add(name, JsonValue.Create(value));

    /// <summary>Writes a finite number (stored in its shortest round-trip form).</summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">A finite number.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is NaN or infinite.</exception>
    public void WriteDouble(string name, double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"Component field '{name}' must be a finite number.");
        }

        Add(name, JsonValue.Create(value));
    }

    /// <summary>Writes true or false.</summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The value.</param>
    public void WriteBool(string name, bool value) => Add(name, JsonValue.Create(value));

    /// <summary>Writes a string.</summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The value.</param>
    public void WriteString(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Add(name, JsonValue.Create(value));
    }

    /// <summary>Writes an enum value by its name.</summary>
    /// <typeparam name="TEnum">The enum type.</typeparam>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">A defined value.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is not a defined value.</exception>
    public void WriteEnum<TEnum>(string name, TEnum value)
        where TEnum : struct, System.Enum
    {
        if (!System.Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"Component field '{name}' holds an undefined {typeof(TEnum).Name}.");
        }

        Add(name, JsonValue.Create(value.ToString()));
    }

    /// <summary>
    /// Writes a float64 vector (fitted state such as a standardiser's means): a model file stores it as a tensor and the
    /// field as the tensor's name. Only components a model file stores beside its flows (scorers) can hold vectors; a
    /// flow's architecture holds settings only.
    /// </summary>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="values">The values, all finite.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is NaN or infinite.</exception>
    /// <exception cref="NotSupportedException">This description holds settings only.</exception>
    public void WriteDoubles(string name, IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        for (int i = 0; i < values.Count; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                throw new ArgumentOutOfRangeException(nameof(values), values[i], $"Component field '{name}' must hold finite numbers; entry {i} is not.");
            }
        }

        Add(name, Sink(name).StoreDoubles(values, name));
    }

    /// <summary>Writes a value stored beside the description (a flow): the field holds the sink's reference.</summary>
    /// <exception cref="NotSupportedException">This description holds settings only.</exception>
    internal void WriteStored<T>(string name, T value)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(value, name);
        Add(name, Sink(name).Store(value, name));
    }

    /// <summary>Writes a nested object of fields that is not a component (no <c>"type"</c>), such as a scorer's noise.</summary>
    internal void WriteObject(string name, Action<ComponentWriter> write)
    {
        var nested = new ComponentWriter(sink, visited);
        write(nested);
        Add(name, nested.fields);
    }

    /// <summary>Writes a raw JSON value (an unsigned seed, or a component stored by its bare name).</summary>
    internal void WriteNode(string name, JsonNode value) => Add(name, value);

    /// <summary>Writes a nested component as an object <c>{"type": name, ...its fields}</c>.</summary>
    /// <typeparam name="TKind">The kind, e.g. <c>IMaskStrategy</c>.</typeparam>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The component; it must implement <see cref="IComponent"/> for the description to exist.</param>
    public void WriteComponent<TKind>(string name, TKind value)
        where TKind : class
    {
        ArgumentNullException.ThrowIfNull(value, name);
        Add(name, Describe(value, sink, visited));
    }

    /// <summary>Writes a nested component, or JSON <c>null</c> when <paramref name="value"/> is null.</summary>
    /// <typeparam name="TKind">The kind, e.g. <c>IConditionerFactory</c>.</typeparam>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="value">The component or null.</param>
    public void WriteOptionalComponent<TKind>(string name, TKind? value)
        where TKind : class =>
        Add(name, value is null ? null : Describe(value, sink, visited));

    /// <summary>The component's fields, without its name.</summary>
    /// <exception cref="NotDescribableException">The component, or one nested in it, does not describe itself.</exception>
    internal static JsonObject FieldsOf(object component, IComponentSink? sink = null) => FieldsOf(component, sink, visited: null);

    /// <summary>
    /// The types of <paramref name="component"/> and of every component it writes, at any depth: what a build from these
    /// settings may run the code of. Null when the tree cannot be described (a nested value that is no component).
    /// </summary>
    internal static IReadOnlySet<Type>? TypesIn(object component)
    {
        ArgumentNullException.ThrowIfNull(component);
        var types = new HashSet<Type>();
        try
        {
            FieldsOf(component, sink: null, types);
        }
        catch (NotDescribableException)
        {
            return null;
        }
        catch (NotSupportedException)
        {
            return null;
        }

        return types;
    }

    private static JsonObject FieldsOf(object component, IComponentSink? sink, HashSet<Type>? visited)
    {
        if (component is not IComponent described)
        {
            throw new NotDescribableException(component.GetType());
        }

        visited?.Add(component.GetType());
        var writer = new ComponentWriter(sink, visited);
        described.Write(writer);
        return writer.fields;
    }

    /// <summary><c>{"type": name, ...fields}</c>.</summary>
    /// <exception cref="NotDescribableException">The component, or one nested in it, does not describe itself.</exception>
    internal static JsonObject Describe(object component, IComponentSink? sink = null) => Describe(component, sink, visited: null);

    private static JsonObject Describe(object component, IComponentSink? sink, HashSet<Type>? visited)
    {
        var fields = FieldsOf(component, sink, visited);
        var described = new JsonObject { ["type"] = NameOf(component.GetType()) };
        foreach (var (key, value) in fields)
        {
            described[key] = value?.DeepClone();
        }

        return described;
    }

    /// <summary>The declared name of a component type.</summary>
    /// <exception cref="InvalidOperationException">The type implements <see cref="IComponent"/> without a <see cref="ComponentNameAttribute"/>.</exception>
    internal static string NameOf(Type type) =>
        Names.GetOrAdd(type, t => t.GetCustomAttribute<ComponentNameAttribute>(inherit: false)?.Name)
        ?? throw new InvalidOperationException(
            $"{type.FullName} implements IComponent but declares no [ComponentName(\"...\")]; the stored name must be declared, it is never derived from the type name.");

    private IComponentSink Sink(string name) => sink ?? throw new NotSupportedException(
        $"Component field '{name}' refers to a stored value (a flow or a vector), which only components a model file stores beside its flows "
        + "(scorers) can hold; a flow's architecture holds settings only.");

    private void Add(string name, JsonNode? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == "type" || fields.ContainsKey(name))
        {
            throw new ArgumentException($"A component writes each field once and never \"type\" (its declared name); \"{name}\" is written twice or reserved.", nameof(name));
        }

        fields[name] = value;
    }

    /// <summary>A value that does not describe itself: the description does not exist.</summary>
    internal sealed class NotDescribableException(Type type)
        : NotSupportedException(
            $"{type.FullName} is a custom component that does not describe itself; implement IComponent<TSelf> with a [ComponentName] "
            + "on it (and register it with ModelCatalog.With<T>() in ModelLoadOptions.Catalog to load), or describe the whole flow with FlowArchitecture.Custom.")
    {
        public Type Type { get; } = type;
    }
}
