using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Masks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Affine coupling layer (RealNVP, Dinh et al. 2017; Glow, Kingma &amp; Dhariwal 2018) with a pluggable mask strategy,
/// st-network and scale activation.
/// </summary>
/// <remarks>
/// <para>Let b be the conditioning mask (<c>true</c> = conditioning half, passed through unchanged) and m the transform
/// mask of <see cref="CouplingLayer.Mask"/>. With (ŝ, t) = st(x ⊙ b) and the log-scale s = a(ŝ) given by the
/// <see cref="ScaleActivation"/> a (default <see cref="ScaleActivation.RealNvpTanh"/>: s = σ ⊙ tanh(ŝ), σ a learnable
/// per-channel scale, RealNVP's bounded scale), on the transformed entries</para>
/// <para>Forward: y = (x + t) ⊙ exp(s), LogDet = Σ s over the transformed entries;</para>
/// <para>Inverse: x = y ⊙ exp(−s) − t, LogDet = −Σ s.</para>
/// <para>Every other entry is copied bit for bit. The shift is added before scaling, as in Kirichenko et al. (2020)'s
/// code and in Glow. When the mask is channel-structured (<see cref="CouplingMask.IsChannelStructured"/>) the
/// st-network sees only the conditioning channels and predicts s and t for the transformed channels; otherwise it sees
/// the whole event with non-conditioning entries zeroed and predicts s and t for every channel (see
/// <see cref="CouplingLayer"/>). The st-network's first half of output channels is ŝ, the second half t. Shapes: input
/// and output <c>[N, eventShape...]</c>, LogDet <c>[N]</c>. With <see cref="ScaleActivation.RealNvpTanh"/> the layer
/// has a parameter <c>scale</c> of shape <c>[Ct, 1, ...]</c> (σ, initialised to 1); other presets have none.</para>
/// <para>Without gradients, a few float32 CPU images (at most 65,536 values) with a built-in activation take the
/// element-wise step in managed code (one pass instead of about ten libtorch operations; the same maths, agreeing to
/// float32 rounding); anything else, and everything with gradients, through libtorch.</para>
/// </remarks>
public sealed partial class AffineCoupling : CouplingLayer
{
    private readonly Parameter? scale;
    private readonly ScaleActivation activation;

    /// <summary>Creates the layer for events of shape <paramref name="eventShape"/>.</summary>
    /// <param name="eventShape">The per-example shape, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="maskStrategy">Chooses the mask from the event shape and <paramref name="layerIndex"/>.</param>
    /// <param name="layerIndex">The layer's index in its stack (alternates or cycles the mask).</param>
    /// <param name="conditioner">Creates the st-network.</param>
    /// <param name="scaleActivation">Maps ŝ to the log-scale s (default <see cref="ScaleActivation.RealNvpTanh"/>).</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    public AffineCoupling(
        long[] eventShape, IMaskStrategy maskStrategy, int layerIndex, IConditionerFactory conditioner, ScaleActivation? scaleActivation = null, Device? device = null)
        : this(CreateMask(eventShape, maskStrategy, layerIndex), conditioner, scaleActivation, device)
    {
    }

    /// <summary>Creates the layer with an explicit mask.</summary>
    /// <param name="mask">The coupling mask (its event shape is the layer's).</param>
    /// <param name="conditioner">Creates the st-network.</param>
    /// <param name="scaleActivation">Maps ŝ to the log-scale s (default <see cref="ScaleActivation.RealNvpTanh"/>).</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    public AffineCoupling(CouplingMask mask, IConditionerFactory conditioner, ScaleActivation? scaleActivation = null, Device? device = null)
        : base(nameof(AffineCoupling), mask, conditioner, mapsPerChannel: 2, device)
    {
        activation = scaleActivation ?? ScaleActivation.RealNvpTanh;
        if (activation.UsesLearnableScale)
        {
            var trailingOnes = Enumerable.Repeat(1L, mask.EventShape.Count - 1);
            using var scope = NewDisposeScope();
            scale = Parameters.Create(ones(new[] { TransformedChannels }.Concat(trailingOnes).ToArray(), device: device));
        }

        RegisterComponents();
    }

    /// <summary>The scale activation mapping ŝ to the log-scale s.</summary>
    public ScaleActivation ScaleActivation => activation;

    /// <inheritdoc/>
    protected override (Tensor Changed, Tensor? LogScale) Couple(Tensor changing, Tensor conditionerOutput, bool inverse)
    {
        var halves = conditionerOutput.chunk(2, 1);
        var s = activation.LogScale(halves[0], scale);
        var t = halves[1];
        var changed = inverse ? changing.mul(s.neg().exp_()).sub_(t) : changing.Plus(t).mul(s.exp());
        return (changed, s);
    }

    /// <inheritdoc/>
    private protected override (Tensor Output, Tensor LogDet)? TryCoupleOnHost(
        Tensor input, Tensor conditionerOutput, Tensor? transformMask, Tensor? transformChannels, bool inverse) =>
        HostAffineCoupling.TryApply(input, conditionerOutput, transformMask, transformChannels, activation, scale, inverse);

    /// <summary>The learnable scale <c>[transformed channels, 1, ...]</c> of <see cref="ScaleActivation.RealNvpTanh"/> (the parameter itself), else null.</summary>
    internal Tensor? LearnableScale => scale;

    /// <inheritdoc/>
    internal override Tensor? ShiftOf(Tensor conditionerOutput) => conditionerOutput.chunk(2, 1)[1];

    /// <inheritdoc/>
    public override string ToString() =>
        $"AffineCoupling({FormattedEventShape}, channelStructured={IsChannelStructured}, scale={activation})";
}
