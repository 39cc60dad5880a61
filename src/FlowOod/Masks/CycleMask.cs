using System;
using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// Kirichenko et al. (2020)'s cycle-mask: layer i conditions on quadrant i mod 4 and transforms quadrant (i + 1) mod 4,
/// the other two quadrants pass through unseen; <c>true</c> = conditioning half.
/// </summary>
/// <remarks>
/// <para>An event <c>[C, H, W]</c> (H and W even) is cut into four quadrants of size C × H/2 × W/2, numbered clockwise:
/// 0 = top-left, 1 = top-right, 2 = bottom-right, 3 = bottom-left (<see cref="Quadrant"/>). Layer i conditions on
/// quadrant q = i mod 4 (<c>true</c> in <see cref="CouplingMask.Condition"/>: passed through unchanged and the only
/// part the st-network sees) and transforms quadrant (q + 1) mod 4. The other two quadrants are in neither set: they
/// are copied unchanged and hidden from the st-network. The sequence is (0→1), (1→2), (2→3), (3→0), repeating with
/// period <see cref="CycleLength"/>, so each layer conditions on the quadrant the previous layer transformed.</para>
/// <para>Why (Kirichenko et al. 2020, Sec. 7 and Fig. 13): with alternating masks, layer k can encode the half it
/// conditions on into the half it transforms and layer k + 1 decodes it ("coupling-layer co-adaptation"). With the
/// cycle-mask, information from a quadrant must travel through four couplings before it reaches the same quadrant
/// again. Their <c>RealNVPCycleMask</c> stacks 8 such layers (two full cycles) in one scale.</para>
/// </remarks>
[ComponentName("cycle")]
public sealed class CycleMask : IMaskStrategy, IComponent<CycleMask>
{
    /// <summary>Layers per full cycle: after 4 layers the mask repeats.</summary>
    public const int CycleLength = 4;

    /// <summary>The shared instance; the strategy has no state.</summary>
    public static CycleMask Instance { get; } = new();

    private CycleMask()
    {
    }

    /// <summary>The quadrants of layer <paramref name="layerIndex"/>: condition on i mod 4, transform (i + 1) mod 4.</summary>
    /// <param name="layerIndex">The 0-based layer index.</param>
    /// <returns>The conditioning quadrant and the transformed quadrant.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerIndex"/> is negative.</exception>
    public static (Quadrant Condition, Quadrant Transform) QuadrantsAt(int layerIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        return ((Quadrant)(layerIndex % CycleLength), (Quadrant)((layerIndex + 1) % CycleLength));
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The event shape is not <c>[C, H, W]</c> with H and W even.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerIndex"/> is negative.</exception>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        var (condition, transform) = QuadrantsAt(layerIndex);
        return QuadrantMask.Build(eventShape, condition, transform, "A cycle mask", nameof(eventShape));
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
    }

    /// <summary>Reads the stored mask (it has no settings).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The shared instance.</returns>
    public static CycleMask Read(ComponentReader reader) => Instance;

    /// <inheritdoc/>
    public override string ToString() => "Cycle";
}
