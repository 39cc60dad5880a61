using System;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Masks;

/// <summary>
/// Which entries of an event a coupling layer conditions on and which it transforms. Entries in neither set pass
/// through unchanged without being seen by the st-network (the cycle-mask uses this).
/// </summary>
/// <remarks>
/// Masks are laid out over the event shape (<c>[C, H, W]</c> for images, <c>[D]</c> for vectors) in row-major order.
/// Polarity, FlowOod-wide: <see cref="Condition"/><c>[i] == true</c> means entry i belongs to the conditioning half,
/// passed through unchanged and fed to the st-network; <see cref="Transform"/><c>[i] == true</c> means entry i is
/// transformed. The two sets are disjoint and both non-empty.
/// </remarks>
public sealed class CouplingMask
{
    private readonly bool[] condition;
    private readonly bool[] transform;
    private readonly long[] eventShape;

    /// <summary>Creates a mask over <paramref name="eventShape"/>.</summary>
    /// <param name="eventShape">The event shape, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="condition">true = conditioning entry (passed through, seen by the st-network).</param>
    /// <param name="transform">true = transformed entry.</param>
    /// <exception cref="ArgumentException">Lengths differ from the shape's element count, the sets overlap, or one is empty.</exception>
    public CouplingMask(long[] eventShape, bool[] condition, bool[] transform)
    {
        this.eventShape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(transform);
        var count = Shapes.Product(this.eventShape);
        if (condition.Length != count || transform.Length != count)
        {
            throw new ArgumentException(
                $"Mask lengths ({condition.Length}, {transform.Length}) must equal the element count {count} of event shape {Shapes.Format(this.eventShape)}.");
        }

        if (condition.Zip(transform).Any(p => p.First && p.Second))
        {
            throw new ArgumentException("An entry cannot be both conditioning and transformed.", nameof(transform));
        }

        if (!condition.Contains(true) || !transform.Contains(true))
        {
            throw new ArgumentException("A coupling mask needs at least one conditioning and one transformed entry.");
        }

        this.condition = (bool[])condition.Clone();
        this.transform = (bool[])transform.Clone();
        ConditionChannels = ChannelsWhereAll(this.condition);
        TransformChannels = ChannelsWhereAll(this.transform);
        IsChannelStructured = ConditionChannels is not null && TransformChannels is not null
            && ConditionChannels.Count + TransformChannels.Count == this.eventShape[0];
    }

    /// <summary>The event shape the mask is laid out over.</summary>
    public IReadOnlyList<long> EventShape => eventShape;

    /// <summary>true = conditioning entry (passed through unchanged and fed to the st-network), row-major.</summary>
    public ReadOnlySpan<bool> Condition => condition;

    /// <summary>true = transformed entry, row-major.</summary>
    public ReadOnlySpan<bool> Transform => transform;

    /// <summary>
    /// True when every channel (index along the first event dimension) is wholly conditioning or wholly transformed, so
    /// the st-network can see only the conditioning channels (RealNVP's channel-wise coupling).
    /// </summary>
    public bool IsChannelStructured { get; }

    /// <summary>The wholly-conditioning channels when <see cref="IsChannelStructured"/>, otherwise null.</summary>
    public IReadOnlyList<long>? ConditionChannels { get; }

    /// <summary>The wholly-transformed channels when <see cref="IsChannelStructured"/>, otherwise null.</summary>
    public IReadOnlyList<long>? TransformChannels { get; }

    /// <summary>The event shape as an array (a copy).</summary>
    internal long[] EventShapeArray => (long[])eventShape.Clone();

    /// <summary>The conditioning mask as an array (a copy).</summary>
    internal bool[] ConditionArray => (bool[])condition.Clone();

    /// <summary>The transform mask as an array (a copy).</summary>
    internal bool[] TransformArray => (bool[])transform.Clone();

    /// <summary>The channels whose entries are all set in <paramref name="mask"/>; null when some channel is mixed.</summary>
    private List<long>? ChannelsWhereAll(bool[] mask)
    {
        var perChannel = mask.Length / eventShape[0];
        var channels = new List<long>();
        for (long c = 0; c < eventShape[0]; c++)
        {
            var slice = new ArraySegment<bool>(mask, (int)(c * perChannel), (int)perChannel);
            var all = slice.All(b => b);
            if (!all && slice.Any(b => b))
            {
                return null;
            }

            if (all)
            {
                channels.Add(c);
            }
        }

        return channels;
    }
}
