using System;

namespace FlowOod.Components;

/// <summary>
/// Marks an interface or base class as a kind of component (masks, bottlenecks, st-networks, ...): component names are
/// unique within a kind, and <see cref="ComponentReader.ReadComponent{TKind}(string)"/> reads a nested component of a kind.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Class, Inherited = false)]
public sealed class ComponentKindAttribute : Attribute
{
    /// <summary>Declares the kind.</summary>
    /// <param name="name">The kind's name in messages, e.g. <c>"mask"</c>.</param>
    /// <exception cref="ArgumentException">The name is empty.</exception>
    public ComponentKindAttribute(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>The kind's name in messages.</summary>
    public string Name { get; }
}
