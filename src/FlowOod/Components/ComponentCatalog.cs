using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// Which component types a reader knows, by kind and name: an immutable map (kind, name) → reader. Writing needs no
/// catalog (a component describes itself); reading a stored description does.
/// </summary>
/// <remarks>
/// <see cref="BuiltIn"/> holds FlowOod's own components, found once by scanning FlowOod's assembly for types
/// implementing <see cref="IComponent{TSelf}"/>. Add yours with <see cref="With{T}"/>, which returns a new catalog (there
/// is no process-wide registry). At load time it is the component part of a <c>ModelCatalog</c>: register your types
/// with <c>ModelCatalog.With&lt;T&gt;()</c> and pass that as <c>ModelLoadOptions.Catalog</c>.
/// </remarks>
/// <example>
/// <code>
/// var catalog = ModelCatalog.BuiltIn.With&lt;StripeMask&gt;().With&lt;MyStNetworkFactory&gt;();
/// using var flow = ModelFile.LoadFlow(path, new ModelLoadOptions { Catalog = catalog });
/// </code>
/// </example>
public sealed class ComponentCatalog
{
    private readonly ImmutableDictionary<(Type Kind, string Name), Entry> entries;

    private ComponentCatalog(ImmutableDictionary<(Type Kind, string Name), Entry> entries)
    {
        this.entries = entries;
    }

    /// <summary>FlowOod's own components (masks, bottlenecks, st-networks, scale activations, builders' options, compressors, scorers).</summary>
    public static ComponentCatalog BuiltIn { get; } = Scan(typeof(ComponentCatalog).Assembly);

    /// <summary>The component types this catalog reads.</summary>
    public IReadOnlyCollection<Type> ComponentTypes => entries.Values.Select(e => e.Type).Distinct().ToArray();

    /// <summary>A new catalog that also reads <typeparamref name="T"/>, under its declared name in each of its kinds.</summary>
    /// <typeparam name="T">A type with a <see cref="ComponentNameAttribute"/> implementing a kind (an interface or base class marked <see cref="ComponentKindAttribute"/>).</typeparam>
    /// <returns>The extended catalog (this one when <typeparamref name="T"/> is already in it).</returns>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> has no name or no kind, or another type of the same kind has its name.</exception>
    public ComponentCatalog With<T>()
        where T : IComponent<T> =>
        With(typeof(T), static reader => T.Read(reader));

    /// <summary>Whether the catalog reads a component of kind <typeparamref name="TKind"/> named <paramref name="name"/>.</summary>
    /// <typeparam name="TKind">The kind, e.g. <c>IMaskStrategy</c>.</typeparam>
    /// <param name="name">The stored name.</param>
    /// <returns>True when it does.</returns>
    public bool Contains<TKind>(string name)
        where TKind : class =>
        entries.ContainsKey((typeof(TKind), name));

    /// <summary>The declared name of a component type.</summary>
    /// <param name="componentType">A type with a <see cref="ComponentNameAttribute"/>.</param>
    /// <returns>The name.</returns>
    /// <exception cref="InvalidOperationException">The type declares no name.</exception>
    public static string NameOf(Type componentType)
    {
        ArgumentNullException.ThrowIfNull(componentType);
        return ComponentWriter.NameOf(componentType);
    }

    /// <summary>Whether a component of the kind named <paramref name="kindName"/> is registered under <paramref name="name"/>.</summary>
    internal bool ContainsInKind(string kindName, string name) => entries.Keys.Any(k => k.Name == name && KindName(k.Kind) == kindName);

    /// <summary>Reads the component of kind <typeparamref name="TKind"/> named <paramref name="name"/> from its fields.</summary>
    /// <exception cref="ComponentFormatException">The catalog has no such component, or its fields are invalid.</exception>
    internal TKind Read<TKind>(string name, JsonObject fields, string path, IComponentSource source)
        where TKind : class
    {
        if (!entries.TryGetValue((typeof(TKind), name), out var entry))
        {
            var kind = KindName(typeof(TKind));
            throw new ComponentFormatException(
                $"Value {path}.type: unknown {kind} \"{name}\". If \"{name}\" is your own {kind}, register its type: "
                + $"ModelLoadOptions.Catalog = ModelCatalog.BuiltIn.With<YourType>().");
        }

        return (TKind)entry.Read(new ComponentReader(fields, path, this, source));
    }

    /// <summary>The kind's name from its <see cref="ComponentKindAttribute"/>, else the type's name.</summary>
    internal static string KindName(Type kind) => kind.GetCustomAttribute<ComponentKindAttribute>(inherit: false)?.Name ?? kind.Name;

    private static IEnumerable<Type> KindsOf(Type type)
    {
        foreach (var candidate in type.GetInterfaces())
        {
            if (candidate.IsDefined(typeof(ComponentKindAttribute), inherit: false))
            {
                yield return candidate;
            }
        }

        for (var b = type.BaseType; b is not null; b = b.BaseType)
        {
            if (b.IsDefined(typeof(ComponentKindAttribute), inherit: false))
            {
                yield return b;
            }
        }
    }

    private static ComponentCatalog Scan(Assembly assembly)
    {
        var catalog = new ComponentCatalog(ImmutableDictionary<(Type Kind, string Name), Entry>.Empty);
        var register = typeof(ComponentCatalog).GetMethod(nameof(ReaderOf), BindingFlags.NonPublic | BindingFlags.Static)!;
        foreach (var type in assembly.GetTypes().Where(t => !t.IsAbstract && !t.IsGenericTypeDefinition).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            if (type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IComponent<>) && i.GenericTypeArguments[0] == type))
            {
                var read = (Func<ComponentReader, object>)register.MakeGenericMethod(type).Invoke(null, null)!;
                catalog = catalog.With(type, read);
            }
        }

        return catalog;
    }

    private static Func<ComponentReader, object> ReaderOf<T>()
        where T : IComponent<T> =>
        static reader => T.Read(reader)!;

    private ComponentCatalog With(Type type, Func<ComponentReader, object> read)
    {
        var name = type.GetCustomAttribute<ComponentNameAttribute>(inherit: false)?.Name
            ?? throw new ArgumentException($"{type.FullName} declares no [ComponentName(\"...\")]: the stored name must be declared.", nameof(type));
        var kinds = KindsOf(type).ToArray();
        if (kinds.Length == 0)
        {
            throw new ArgumentException(
                $"{type.FullName} is of no component kind: it must implement an interface (or derive from a class) marked [ComponentKind], "
                + "such as IMaskStrategy, IConditionerFactory, IBottleneck, ScaleActivation, ICompressor, IFlowBuilderOptions or IOodScorer.",
                nameof(type));
        }

        var builder = entries.ToBuilder();
        foreach (var kind in kinds)
        {
            if (builder.TryGetValue((kind, name), out var existing))
            {
                if (existing.Type == type)
                {
                    continue;
                }

                throw new ArgumentException(
                    $"Two {KindName(kind)} components are named \"{name}\": {existing.Type.FullName} and {type.FullName}; names must be unique within a kind.",
                    nameof(type));
            }

            builder[(kind, name)] = new Entry(type, read);
        }

        return builder.Count == entries.Count ? this : new ComponentCatalog(builder.ToImmutable());
    }

    private sealed record Entry(Type Type, Func<ComponentReader, object> Read);
}
