using System;

namespace FlowOod.Masks;

/// <summary>What a coupling layer does with one entry of its event.</summary>
internal enum EntryRole
{
    /// <summary>Passed through unchanged and not seen by the st-network.</summary>
    Untouched,

    /// <summary>Conditioning: passed through unchanged and fed to the st-network.</summary>
    Condition,

    /// <summary>Transformed.</summary>
    Transform,
}

/// <summary>Builds masks over image events <c>[C, H, W]</c> that are the same for every channel.</summary>
internal static class SpatialMasks
{
    /// <summary>Copies and checks an image event shape <c>[C, H, W]</c>.</summary>
    /// <exception cref="ArgumentException">The shape is not three positive dimensions.</exception>
    public static long[] CheckImageShape(long[] eventShape, string maskName, string parameterName)
    {
        var shape = Shapes.CheckEventShape(eventShape, parameterName);
        if (shape.Length != 3)
        {
            throw new ArgumentException($"{maskName} needs an image event shape [C, H, W], got {Shapes.Format(shape)}.", parameterName);
        }

        return shape;
    }

    /// <summary>The mask whose entry (c, i, j) has role <paramref name="roleOf"/>(i, j) for every channel c.</summary>
    public static CouplingMask Create(long[] shape, Func<long, long, EntryRole> roleOf)
    {
        long c = shape[0], h = shape[1], w = shape[2];
        var condition = new bool[c * h * w];
        var transform = new bool[c * h * w];
        for (long i = 0; i < h; i++)
        {
            for (long j = 0; j < w; j++)
            {
                var role = roleOf(i, j);
                for (long k = 0; k < c; k++)
                {
                    var at = (k * h * w) + (i * w) + j;
                    condition[at] = role == EntryRole.Condition;
                    transform[at] = role == EntryRole.Transform;
                }
            }
        }

        return new CouplingMask(shape, condition, transform);
    }
}
