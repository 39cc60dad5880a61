using System;
using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// A fixed quadrant pair: every layer conditions on one quadrant and transforms another, the other two quadrants pass
/// through unseen; <c>true</c> = conditioning half.
/// </summary>
/// <remarks>
/// <para>For an event <c>[C, H, W]</c> with H and W even, <see cref="ConditionQuadrant"/> (all channels × H/2 × W/2) is
/// the conditioning set (<c>true</c> in <see cref="CouplingMask.Condition"/>), <see cref="TransformQuadrant"/> is the
/// transformed set, and the remaining two quadrants are in neither set: they are copied unchanged and the st-network
/// does not see them (it gets the image with everything but the conditioning quadrant zeroed). The mask is the same on
/// every layer. This is one layer of Kirichenko et al. (2020)'s <c>MaskQuadrant</c>; <see cref="CycleMask"/> cycles
/// the pair with the layer index.</para>
/// </remarks>
[ComponentName("quadrant")]
public sealed class QuadrantMask : IMaskStrategy, IComponent<QuadrantMask>
{
    /// <summary>Creates the strategy for a fixed pair.</summary>
    /// <param name="conditionQuadrant">The quadrant the st-network sees (passed through unchanged).</param>
    /// <param name="transformQuadrant">The quadrant that is transformed.</param>
    /// <exception cref="ArgumentOutOfRangeException">A quadrant is not a defined value.</exception>
    /// <exception cref="ArgumentException">The two quadrants are the same.</exception>
    public QuadrantMask(Quadrant conditionQuadrant, Quadrant transformQuadrant)
    {
        CheckDefined(conditionQuadrant, nameof(conditionQuadrant));
        CheckDefined(transformQuadrant, nameof(transformQuadrant));
        if (conditionQuadrant == transformQuadrant)
        {
            throw new ArgumentException(
                $"The conditioning and transformed quadrants must differ, got {conditionQuadrant} for both.", nameof(transformQuadrant));
        }

        ConditionQuadrant = conditionQuadrant;
        TransformQuadrant = transformQuadrant;
    }

    /// <summary>The quadrant the st-network sees, passed through unchanged.</summary>
    public Quadrant ConditionQuadrant { get; }

    /// <summary>The quadrant that is transformed.</summary>
    public Quadrant TransformQuadrant { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The event shape is not <c>[C, H, W]</c> with H and W even.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerIndex"/> is negative.</exception>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        return Build(eventShape, ConditionQuadrant, TransformQuadrant, "A quadrant mask", nameof(eventShape));
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteEnum("condition", ConditionQuadrant);
        writer.WriteEnum("transform", TransformQuadrant);
    }

    /// <summary>Reads the stored mask: its two quadrants by name.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The mask.</returns>
    /// <exception cref="ArgumentException">The stored quadrants are the same.</exception>
    public static QuadrantMask Read(ComponentReader reader) => new(reader.ReadEnum<Quadrant>("condition"), reader.ReadEnum<Quadrant>("transform"));

    /// <inheritdoc/>
    public override string ToString() => $"Quadrant({ConditionQuadrant} -> {TransformQuadrant})";

    /// <summary>The mask conditioning on <paramref name="condition"/> and transforming <paramref name="transform"/>.</summary>
    /// <exception cref="ArgumentException">The event shape is not <c>[C, H, W]</c> with H and W even.</exception>
    internal static CouplingMask Build(long[] eventShape, Quadrant condition, Quadrant transform, string maskName, string parameterName)
    {
        var shape = SpatialMasks.CheckImageShape(eventShape, maskName, parameterName);
        long h = shape[1], w = shape[2];
        if (h % 2 != 0 || w % 2 != 0)
        {
            throw new ArgumentException(
                $"{maskName} splits the image into four equal quadrants, so H and W must be even; got event shape "
                + $"{Shapes.Format(shape)} (H = {h}, W = {w}).",
                parameterName);
        }

        return SpatialMasks.Create(shape, (i, j) =>
        {
            var quadrant = QuadrantOf(i >= h / 2, j >= w / 2);
            return quadrant == condition ? EntryRole.Condition
                : quadrant == transform ? EntryRole.Transform
                : EntryRole.Untouched;
        });
    }

    private static Quadrant QuadrantOf(bool bottom, bool right) => (bottom, right) switch
    {
        (false, false) => Quadrant.TopLeft,
        (false, true) => Quadrant.TopRight,
        (true, true) => Quadrant.BottomRight,
        (true, false) => Quadrant.BottomLeft,
    };

    private static void CheckDefined(Quadrant quadrant, string parameterName)
    {
        if (!Enum.IsDefined(quadrant))
        {
            throw new ArgumentOutOfRangeException(parameterName, quadrant, $"Unknown quadrant {(int)quadrant}; quadrants are numbered 0 to 3.");
        }
    }
}
