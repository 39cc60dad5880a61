using System;
using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// Half-image masking: conditions on one half of the image (top/bottom or left/right, all channels) and transforms the
/// other, swapping the halves on odd layers; <c>true</c> = conditioning half.
/// </summary>
/// <remarks>
/// <para>For an event <c>[C, H, W]</c> and <see cref="HalfMaskAxis.Horizontal"/>, the first half is the top ⌊H/2⌋ rows
/// and the second half the remaining H − ⌊H/2⌋ rows. On even layers (the non-reversed mask) the first half conditions
/// (<c>true</c> in <see cref="CouplingMask.Condition"/>) and the second half is transformed; odd layers swap them, so
/// the second half conditions and the first half is transformed. <see cref="HalfMaskAxis.Vertical"/> does the same with
/// the left ⌊W/2⌋ columns and the remaining W − ⌊W/2⌋ columns. Every channel gets the same split and every entry is
/// either conditioning or transformed.</para>
/// <para>Odd sizes: when H (or W) is odd the middle row (column) belongs to the bottom (right) half on every layer, so
/// even layers transform ⌈H/2⌉ rows and odd layers transform ⌊H/2⌋ rows.</para>
/// <para>This is Kirichenko et al. (2020)'s <c>MaskHorizontal</c> / <c>MaskVertical</c>: stacking horizontal half
/// couplings is the setting of their coupling-layer co-adaptation demonstration (Sec. 6), where a layer encodes the
/// half it conditions on into the half it transforms for the next layer to decode.</para>
/// </remarks>
[ComponentName("half")]
public sealed class HalfMask : IMaskStrategy, IComponent<HalfMask>
{
    /// <summary>Creates the strategy for <paramref name="axis"/>.</summary>
    /// <param name="axis">Cut into top/bottom rows (<see cref="HalfMaskAxis.Horizontal"/>) or left/right columns.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is not a defined value.</exception>
    public HalfMask(HalfMaskAxis axis)
    {
        if (!Enum.IsDefined(axis))
        {
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Unknown half-mask axis {(int)axis}.");
        }

        Axis = axis;
    }

    /// <summary>
    /// Top ⌊H/2⌋ rows condition on even layers, bottom rows on odd layers; <c>true</c> = conditioning half.
    /// </summary>
    public static HalfMask Horizontal { get; } = new(HalfMaskAxis.Horizontal);

    /// <summary>
    /// Left ⌊W/2⌋ columns condition on even layers, right columns on odd layers; <c>true</c> = conditioning half.
    /// </summary>
    public static HalfMask Vertical { get; } = new(HalfMaskAxis.Vertical);

    /// <summary>The axis the image is cut along.</summary>
    public HalfMaskAxis Axis { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The event shape is not <c>[C, H, W]</c>, or the cut dimension is smaller than 2.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerIndex"/> is negative.</exception>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        var shape = SpatialMasks.CheckImageShape(eventShape, $"A {Axis.ToString().ToLowerInvariant()} half mask", nameof(eventShape));
        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        var horizontal = Axis == HalfMaskAxis.Horizontal;
        var size = horizontal ? shape[1] : shape[2];
        if (size < 2)
        {
            throw new ArgumentException(
                $"A {Axis.ToString().ToLowerInvariant()} half mask needs at least 2 {(horizontal ? "rows (H)" : "columns (W)")}, "
                + $"got event shape {Shapes.Format(shape)}.",
                nameof(eventShape));
        }

        var firstHalf = size / 2;
        var reversed = layerIndex % 2 == 1;
        return SpatialMasks.Create(shape, (i, j) =>
        {
            var inFirstHalf = (horizontal ? i : j) < firstHalf;
            return inFirstHalf != reversed ? EntryRole.Condition : EntryRole.Transform;
        });
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer) => writer.WriteEnum("axis", Axis);

    /// <summary>Reads the stored mask: its axis by name.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The mask.</returns>
    public static HalfMask Read(ComponentReader reader) => new(reader.ReadEnum<HalfMaskAxis>("axis"));

    /// <inheritdoc/>
    public override string ToString() => $"Half({Axis})";
}
