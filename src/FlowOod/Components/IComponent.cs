namespace FlowOod.Components;

/// <summary>
/// A component that can describe itself: its settings, written as named, typed fields. Implement
/// <see cref="IComponent{TSelf}"/>, which adds the matching reader.
/// </summary>
public interface IComponent
{
    /// <summary>Writes this component's settings (not its name, which <see cref="ComponentNameAttribute"/> declares).</summary>
    /// <param name="writer">Receives the fields, in the order they are stored.</param>
    void Write(ComponentWriter writer);
}
