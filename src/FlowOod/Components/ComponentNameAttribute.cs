using System;

namespace FlowOod.Components;

/// <summary>
/// The name a component is stored under, declared on the component's type (never derived from the .NET type name, so
/// renaming or moving a class does not break saved files): 1–64 ASCII letters, digits, '.', '-' or '_', unique within
/// its kind.
/// </summary>
/// <example>
/// <code>
/// [ComponentName("stripes")]
/// public sealed class StripeMask : IMaskStrategy, IComponent&lt;StripeMask&gt; { ... }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
public sealed class ComponentNameAttribute : Attribute
{
    /// <summary>Declares the stored name.</summary>
    /// <param name="name">1–64 ASCII letters, digits, '.', '-' or '_'.</param>
    /// <exception cref="ArgumentException">The name is empty, too long or has other characters.</exception>
    public ComponentNameAttribute(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"Component names are 1-64 ASCII letters, digits, '.', '-' or '_'; got \"{name}\".", nameof(name));
        }

        Name = name;
    }

    /// <summary>The stored name.</summary>
    public string Name { get; }

    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
