using System;
using FlowOod.Components;

namespace FlowOod.Masks;

/// <summary>
/// Channel-wise masking: splits the first event dimension (channels of <c>[C, H, W]</c>, features of <c>[D]</c>) into
/// halves, alternating with the layer index.
/// </summary>
/// <remarks>
/// On even layers (non-reversed) the first ⌊C/2⌋ channels are transformed and the remaining ones are the conditioning
/// half (<c>true</c> = conditioning); odd layers swap the halves. The st-network then sees only the conditioning
/// channels (<see cref="CouplingMask.IsChannelStructured"/>). After a 2×2 squeeze of a grayscale image the halves are
/// the top and bottom rows of every 2×2 block (see <c>FlowOod.Bijectors.Squeeze</c>).
/// </remarks>
[ComponentName("channel")]
public sealed class ChannelMask : IMaskStrategy, IComponent<ChannelMask>
{
    /// <summary>The shared instance; the strategy has no state.</summary>
    public static ChannelMask Instance { get; } = new();

    private ChannelMask()
    {
    }

    /// <inheritdoc/>
    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        var shape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        ArgumentOutOfRangeException.ThrowIfNegative(layerIndex);
        var channels = shape[0];
        if (channels < 2)
        {
            throw new ArgumentException($"A channel-wise mask needs at least 2 channels, got event shape {Shapes.Format(shape)}.", nameof(eventShape));
        }

        var perChannel = Shapes.Product(shape) / channels;
        var firstHalf = channels / 2;
        var reversed = layerIndex % 2 == 1;
        var condition = new bool[channels * perChannel];
        var transform = new bool[channels * perChannel];
        for (long c = 0; c < channels; c++)
        {
            var isCondition = (c >= firstHalf) != reversed;
            for (long k = 0; k < perChannel; k++)
            {
                condition[(c * perChannel) + k] = isCondition;
                transform[(c * perChannel) + k] = !isCondition;
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
    public static ChannelMask Read(ComponentReader reader) => Instance;

    /// <inheritdoc/>
    public override string ToString() => "Channel";
}
