using System;
using FlowOod.Conditioners;
using FlowOod.Masks;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Additive coupling layer (NICE, Dinh et al. 2015): a volume-preserving coupling that only shifts the transformed
/// entries.
/// </summary>
/// <remarks>
/// <para>Let b be the conditioning mask (<c>true</c> = conditioning half, passed through unchanged) of
/// <see cref="CouplingLayer.Mask"/>. With t = st(x ⊙ b), on the transformed entries</para>
/// <para>Forward: y = x + t, LogDet = 0;</para>
/// <para>Inverse: x = y − t, LogDet = 0.</para>
/// <para>Every other entry is copied bit for bit. The mask and st-network plumbing is that of
/// <see cref="AffineCoupling"/> (see <see cref="CouplingLayer"/>); the st-network outputs t only, <c>Ct</c> channels
/// instead of 2·Ct. Without a scale the layer cannot blow up in either direction, which makes it a stable baseline
/// where affine couplings produce NaNs; the density's volume changes then come from other layers (e.g.
/// <see cref="ActNorm"/>, <see cref="LuInvertibleConv1x1"/>). Shapes: input and output <c>[N, eventShape...]</c>,
/// LogDet <c>[N]</c> of zeros.</para>
/// </remarks>
public sealed partial class AdditiveCoupling : CouplingLayer
{
    /// <summary>Creates the layer for events of shape <paramref name="eventShape"/>.</summary>
    /// <param name="eventShape">The per-example shape, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="maskStrategy">Chooses the mask from the event shape and <paramref name="layerIndex"/>.</param>
    /// <param name="layerIndex">The layer's index in its stack (alternates or cycles the mask).</param>
    /// <param name="conditioner">Creates the st-network (here a t-network).</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    public AdditiveCoupling(long[] eventShape, IMaskStrategy maskStrategy, int layerIndex, IConditionerFactory conditioner, Device? device = null)
        : this(CreateMask(eventShape, maskStrategy, layerIndex), conditioner, device)
    {
    }

    /// <summary>Creates the layer with an explicit mask.</summary>
    /// <param name="mask">The coupling mask (its event shape is the layer's).</param>
    /// <param name="conditioner">Creates the st-network (here a t-network).</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    public AdditiveCoupling(CouplingMask mask, IConditionerFactory conditioner, Device? device = null)
        : base(nameof(AdditiveCoupling), mask, conditioner, mapsPerChannel: 1, device)
    {
        RegisterComponents();
    }

    /// <inheritdoc/>
    protected override (Tensor Changed, Tensor? LogScale) Couple(Tensor changing, Tensor conditionerOutput, bool inverse) =>
        (inverse ? changing.sub(conditionerOutput) : changing.Plus(conditionerOutput), null);

    /// <inheritdoc/>
    internal override Tensor? ShiftOf(Tensor conditionerOutput) => conditionerOutput.alias();

    /// <inheritdoc/>
    public override string ToString() => $"AdditiveCoupling({FormattedEventShape}, channelStructured={IsChannelStructured})";
}
