namespace FlowOod.Components;

/// <summary>
/// A component that describes itself (<see cref="IComponent.Write"/>) and is rebuilt from that description
/// (<see cref="Read"/>). Give the type a <see cref="ComponentNameAttribute"/> and implement a kind's interface (e.g.
/// <c>IMaskStrategy</c>); FlowOod's own components are found by <see cref="ComponentCatalog.BuiltIn"/>, yours are
/// registered at load time with <c>ModelCatalog.With&lt;T&gt;()</c> (which extends <see cref="ComponentCatalog.With{T}"/>).
/// </summary>
/// <typeparam name="TSelf">The implementing type.</typeparam>
/// <example>
/// <code>
/// [ComponentName("stripes")]
/// public sealed class StripeMask(int width) : IMaskStrategy, IComponent&lt;StripeMask&gt;
/// {
///     public int Width { get; } = width;
///     public CouplingMask Create(long[] eventShape, int layerIndex) => ...;
///     public void Write(ComponentWriter writer) => writer.WriteInt("width", Width);
///     public static StripeMask Read(ComponentReader reader) => new(reader.ReadInt("width", 1, 1024));
/// }
///
/// var options = new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.With&lt;StripeMask&gt;() };
/// </code>
/// </example>
public interface IComponent<TSelf> : IComponent
    where TSelf : IComponent<TSelf>
{
    /// <summary>
    /// Rebuilds the component from the fields its <see cref="IComponent.Write"/> stored. Read every value through the
    /// reader's bounded accessors, which reject missing, mistyped and out-of-range values with a message naming the path.
    /// </summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The component.</returns>
    static abstract TSelf Read(ComponentReader reader);
}
