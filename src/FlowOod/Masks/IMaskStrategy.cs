using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// Chooses the <see cref="CouplingMask"/> of each coupling layer in a stack, from the event shape and the layer's index.
/// </summary>
/// <remarks>
/// Polarity, FlowOod-wide: <c>true</c> in <see cref="CouplingMask.Condition"/> = the conditioning half (passed through
/// unchanged). Strategies alternate or cycle with the layer index, e.g. checkerboard and reversed checkerboard on even
/// and odd layers.
/// </remarks>
[ComponentKind("mask")]
public interface IMaskStrategy
{
    /// <summary>The mask of the coupling layer at <paramref name="layerIndex"/> (0-based) for <paramref name="eventShape"/>.</summary>
    /// <exception cref="System.ArgumentException">The strategy cannot split this event shape.</exception>
    CouplingMask Create(long[] eventShape, int layerIndex);
}
