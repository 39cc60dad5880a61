using System;
using System.Linq;

namespace FlowOod.Masks;

/// <summary>
/// A user-supplied mask strategy: fixed masks used in turn, or a function of the event shape and layer index;
/// <c>true</c> = conditioning half.
/// </summary>
/// <remarks>
/// <para>Three ways to build one:</para>
/// <list type="bullet">
/// <item><description><see cref="CustomMask(CouplingMask[])"/>: layer i uses mask i mod n of the n given masks (one
/// mask = the same mask on every layer).</description></item>
/// <item><description><see cref="CustomMask(Func{long[], int, CouplingMask})"/>: layer i uses whatever the function
/// returns for the event shape and i.</description></item>
/// <item><description><see cref="FromConditioning"/>: a conditioning set over the event whose complement is
/// transformed, optionally swapped on odd layers.</description></item>
/// </list>
/// <para>The polarity is FlowOod's: <c>true</c> in <see cref="CouplingMask.Condition"/> = conditioning half (passed
/// through unchanged and fed to the st-network), <c>true</c> in <see cref="CouplingMask.Transform"/> = transformed,
/// entries in neither set are copied unchanged and hidden from the st-network. Every mask the strategy hands out is
/// checked against the event shape it was asked for.</para>
/// </remarks>
public sealed class CustomMask : IMaskStrategy
{
    private readonly CouplingMask[]? masks;
    private readonly Func<long[], int, CouplingMask>? factory;
    private readonly string description;

    /// <summary>Uses the given masks in turn: layer i gets <paramref name="masks"/>[i mod n].</summary>
    /// <param name="masks">One or more masks over the same event shape; a single mask is used on every layer.</param>
    /// <exception cref="ArgumentException">No mask is given, one is null, or their event shapes differ.</exception>
    public CustomMask(params CouplingMask[] masks)
    {
        ArgumentNullException.ThrowIfNull(masks);
        if (masks.Length == 0)
        {
            throw new ArgumentException("A custom mask needs at least one coupling mask.", nameof(masks));
        }

        for (int k = 0; k < masks.Length; k++)
        {
            if (masks[k] is null)
            {
                throw new ArgumentException($"Coupling mask {k} of {masks.Length} is null.", nameof(masks));
            }

            if (!masks[k].EventShape.SequenceEqual(masks[0].EventShape))
            {
                throw new ArgumentException(
                    $"All masks must share one event shape: mask 0 is over {Format(masks[0])}, mask {k} over {Format(masks[k])}.",
                    nameof(masks));
            }
        }

        this.masks = (CouplingMask[])masks.Clone();
        description = masks.Length == 1 ? $"Custom(fixed {Format(masks[0])})" : $"Custom({masks.Length} masks over {Format(masks[0])})";
    }

    /// <summary>Asks <paramref name="factory"/> for the mask of every layer.</summary>
    /// <param name="factory">
    /// Maps (event shape, 0-based layer index) to a mask over exactly that event shape. It receives a copy of the shape.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public CustomMask(Func<long[], int, CouplingMask> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        this.factory = factory;
        description = "Custom(function)";
    }

    /// <summary>
    /// A strategy conditioning on <paramref name="condition"/> and transforming its complement, with the two sets swapped
    /// on odd layers when <paramref name="alternate"/> is set.
    /// </summary>
    /// <param name="eventShape">The event shape the mask is laid out over, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="condition">
    /// One entry per event element in row-major order; <c>true</c> = conditioning half, <c>false</c> = transformed.
    /// Both values must occur.
    /// </param>
    /// <param name="alternate">
    /// If true, odd layers use the reversed mask (the complement conditions and <paramref name="condition"/> is
    /// transformed), as checkerboard and half masks do; if false, every layer uses the same mask.
    /// </param>
    /// <returns>The strategy.</returns>
    /// <exception cref="ArgumentException">
    /// The event shape is invalid, the length of <paramref name="condition"/> differs from its element count, or
    /// <paramref name="condition"/> is all true or all false.
    /// </exception>
    public static CustomMask FromConditioning(long[] eventShape, bool[] condition, bool alternate)
    {
        var shape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        ArgumentNullException.ThrowIfNull(condition);
        var count = Shapes.Product(shape);
        if (condition.Length != count)
        {
            throw new ArgumentException(
                $"The conditioning mask has {condition.Length} entries but event shape {Shapes.Format(shape)} has {count}.",
                nameof(condition));
        }

        if (!condition.Contains(true) || !condition.Contains(false))
        {
            throw new ArgumentException(
                $"The conditioning mask must contain both true (conditioning) and false (transformed) entries; all {count} are {condition[0]}.",
                nameof(condition));
        }

        var complement = condition.Select(b => !b).ToArray();
        var even = new CouplingMask(shape, condition, complement);
        return alternate ? new CustomMask(even, new CouplingMask(shape, complement, condition)) : new CustomMask(even);
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">
    /// The event shape differs from the shape of the fixed masks.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerIndex"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The factory returned null or a mask over another event shape.</exception>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        var shape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        if (masks is not null)
        {
            var mask = masks[layerIndex % masks.Length];
            if (!mask.EventShape.SequenceEqual(shape))
            {
                throw new ArgumentException(
                    $"This custom mask is laid out over event shape {Format(mask)}, but layer {layerIndex} has event shape {Shapes.Format(shape)}.",
                    nameof(eventShape));
            }

            return mask;
        }

        var created = factory!((long[])shape.Clone(), layerIndex)
            ?? throw new InvalidOperationException($"The custom mask function returned null for event shape {Shapes.Format(shape)}, layer {layerIndex}.");
        if (!created.EventShape.SequenceEqual(shape))
        {
            throw new InvalidOperationException(
                $"The custom mask function returned a mask over {Format(created)} when asked for event shape {Shapes.Format(shape)}, layer {layerIndex}.");
        }

        return created;
    }

    /// <inheritdoc/>
    public override string ToString() => description;

    private static string Format(CouplingMask mask) => Shapes.Format(mask.EventShapeArray);
}
