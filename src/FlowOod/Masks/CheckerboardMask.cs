using System;
using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// Checkerboard masking over the spatial dimensions, the same for every channel, alternating with the layer index.
/// </summary>
/// <remarks>
/// <para>For an event <c>[C, H, W]</c>, b(i, j) = (i + j) mod 2. On even layers (the non-reversed mask) entries with
/// b = 1 are the conditioning half (<c>true</c> = conditioning) and entries with b = 0 are transformed, so the top-left
/// pixel is transformed; odd layers use the reversed mask 1 − b. This is RealNVP's checkerboard (Dinh et al. 2017) with
/// the polarity of Kirichenko et al. (2020)'s code.</para>
/// </remarks>
[ComponentName("checkerboard")]
public sealed class CheckerboardMask : IMaskStrategy, IComponent<CheckerboardMask>
{
    /// <summary>The shared instance; the strategy has no state.</summary>
    public static CheckerboardMask Instance { get; } = new();

    private CheckerboardMask()
    {
    }

    /// <inheritdoc/>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        var shape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        if (shape.Length != 3)
        {
            throw new ArgumentException($"A checkerboard mask needs an image event shape [C, H, W], got {Shapes.Format(shape)}.", nameof(eventShape));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        long c = shape[0], h = shape[1], w = shape[2];
        var reversed = layerIndex % 2 == 1;
        var condition = new bool[c * h * w];
        var transform = new bool[c * h * w];
        for (long k = 0; k < c; k++)
        {
            for (long i = 0; i < h; i++)
            {
                for (long j = 0; j < w; j++)
                {
                    var b = (i + j) % 2 == 1;
                    var isCondition = b != reversed;
                    var at = (k * h * w) + (i * w) + j;
                    condition[at] = isCondition;
                    transform[at] = !isCondition;
                }
            }
        }

        return new CouplingMask(shape, condition, transform);
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
    }

    /// <summary>Reads the stored mask (it has no settings).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The shared instance.</returns>
    public static CheckerboardMask Read(ComponentReader reader) => Instance;

    /// <inheritdoc/>
    public override string ToString() => "Checkerboard";
}
