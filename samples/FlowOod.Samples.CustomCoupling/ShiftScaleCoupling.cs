using System;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Samples.CustomCoupling;

/// <summary>
/// A user-written coupling layer for images: the conditioning half (mask <c>true</c>) goes through a small conv net that
/// predicts a per-pixel log-scale s and shift t for the other half, y = x ⊙ exp(s) + t (the textbook RealNVP form, shift
/// after scaling), LogDet = Σ s. Any <see cref="IMaskStrategy"/> works.
/// </summary>
/// <remarks>
/// Deriving from <see cref="CouplingLayer"/> gives the mask buffers, the st-network plumbing (it sees x ⊙ b, or only
/// the conditioning channels for a channel mask), the copy of every entry outside the transformed set and the
/// log-determinant sum; the layer itself only says what the element-wise map and its log-scale are (<see cref="Couple"/>).
/// </remarks>
public sealed class ShiftScaleCoupling : CouplingLayer
{
    /// <summary>Creates the layer for events <paramref name="eventShape"/> ([C, H, W]).</summary>
    /// <param name="eventShape">The per-example shape <c>[C, H, W]</c>.</param>
    /// <param name="mask">Chooses the mask from the event shape and <paramref name="layerIndex"/>.</param>
    /// <param name="layerIndex">The layer's index in its stack (alternates or cycles the mask).</param>
    /// <param name="hidden">Channels of the st-network's hidden layer.</param>
    /// <param name="forgetLogDet">A deliberate bug for the sample's tests: report LogDet = 0.</param>
    /// <param name="device">Where to create the buffers and the st-network (null: CPU).</param>
    public ShiftScaleCoupling(long[] eventShape, IMaskStrategy mask, int layerIndex, int hidden = 16, bool forgetLogDet = false, Device? device = null)
        : base(nameof(ShiftScaleCoupling), CreateMask(eventShape, mask, layerIndex), new SmallConvConditionerFactory(hidden), mapsPerChannel: 2, device)
    {
        ForgetsLogDet = forgetLogDet;
        RegisterComponents();
    }

    /// <summary>A deliberate bug for the sample's tests: report LogDet = 0 (as if the layer preserved volume).</summary>
    public bool ForgetsLogDet { get; }

    /// <inheritdoc/>
    protected override (Tensor Changed, Tensor? LogScale) Couple(Tensor changing, Tensor conditionerOutput, bool inverse)
    {
        // s and t come from the conditioning entries only, so they are the same in both directions.
        var halves = conditionerOutput.chunk(2, 1);
        var s = halves[0].tanh();
        var t = halves[1];
        // add(t) would pass a temporary alpha = 1 that the finalizer may free mid-call (FlowOod's docs/design.md, "Scalars").
        using var one = 1.ToScalar();
        var changed = inverse ? changing.sub(t).mul(s.neg().exp()) : changing.mul(s.exp()).add(t, one);
        return (changed, ForgetsLogDet ? null : s);
    }

    /// <inheritdoc/>
    public override string ToString() => $"ShiftScaleCoupling({FormattedEventShape})";
}

/// <summary>The sample's st-network: 3×3 conv → ReLU → 3×3 conv, at the input's resolution.</summary>
/// <param name="hidden">Channels of the hidden layer.</param>
public sealed class SmallConvConditionerFactory(int hidden) : IConditionerFactory
{
    /// <inheritdoc/>
    public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(inputShape);

        // Every layer on the device FlowOod asks for (the meta device when a model file is checked before loading).
        return nn.Sequential(
            nn.Conv2d(inputShape[0], hidden, 3, padding: 1, device: device),
            nn.ReLU(),
            nn.Conv2d(hidden, outputChannels, 3, padding: 1, device: device));
    }
}
