using System;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Affine coupling layer (RealNVP, Dinh et al. 2017) with a pluggable mask strategy and st-network.
/// </summary>
/// <remarks>
/// <para>Let b be the conditioning mask (<c>true</c> = conditioning half, passed through unchanged) and m the transform
/// mask of <see cref="Mask"/>. With (ŝ, t) = st(x ⊙ b) and s = σ ⊙ tanh(ŝ) (σ a learnable per-channel scale, RealNVP's
/// bounded scale), on the transformed entries</para>
/// <para>Forward: y = (x + t) ⊙ exp(s), LogDet = Σ s over the transformed entries;</para>
/// <para>Inverse: x = y ⊙ exp(−s) − t, LogDet = −Σ s.</para>
/// <para>Every other entry is copied bit for bit. The shift is added before scaling, as in Kirichenko et al. (2020)'s
/// code. When the mask is channel-structured (<see cref="CouplingMask.IsChannelStructured"/>) the st-network sees only
/// the conditioning channels and predicts s and t for the transformed channels; otherwise it sees the whole event with
/// non-conditioning entries zeroed and predicts s and t for every channel. Shapes: input and output
/// <c>[N, eventShape...]</c>, LogDet <c>[N]</c>.</para>
/// </remarks>
public sealed class AffineCoupling : Bijector
{
    private readonly nn.Module<Tensor, Tensor> st_net;
    private readonly Parameter scale;
    private readonly Tensor condition_mask;
    private readonly Tensor transform_mask;
    private readonly Tensor condition_channels;
    private readonly Tensor transform_channels;
    private readonly long[] eventShape;
    private readonly bool channelStructured;

    /// <summary>Creates the layer for events of shape <paramref name="eventShape"/>.</summary>
    /// <param name="eventShape">The per-example shape, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="maskStrategy">Chooses the mask from the event shape and <paramref name="layerIndex"/>.</param>
    /// <param name="layerIndex">The layer's index in its stack (alternates or cycles the mask).</param>
    /// <param name="conditioner">Creates the st-network.</param>
    public AffineCoupling(long[] eventShape, IMaskStrategy maskStrategy, int layerIndex, IConditionerFactory conditioner)
        : this(CreateMask(eventShape, maskStrategy, layerIndex), conditioner)
    {
    }

    /// <summary>Creates the layer with an explicit mask.</summary>
    /// <param name="mask">The coupling mask (its event shape is the layer's).</param>
    /// <param name="conditioner">Creates the st-network.</param>
    public AffineCoupling(CouplingMask mask, IConditionerFactory conditioner)
        : base(nameof(AffineCoupling))
    {
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(conditioner);
        Mask = mask;
        eventShape = mask.EventShapeArray;
        channelStructured = mask.IsChannelStructured;
        var trailingOnes = Enumerable.Repeat(1L, eventShape.Length - 1);
        long scaleChannels;
        long[] conditionerInput;
        if (channelStructured)
        {
            scaleChannels = mask.TransformChannels!.Count;
            conditionerInput = new[] { (long)mask.ConditionChannels!.Count }.Concat(eventShape.Skip(1)).ToArray();
        }
        else
        {
            scaleChannels = eventShape[0];
            conditionerInput = eventShape;
        }

        st_net = conditioner.Create(conditionerInput, 2 * scaleChannels);
        scale = new Parameter(ones(new[] { scaleChannels }.Concat(trailingOnes).ToArray()));
        condition_mask = tensor(mask.ConditionArray, dtype: ScalarType.Bool).reshape(eventShape).DetachFromDisposeScope();
        transform_mask = tensor(mask.TransformArray, dtype: ScalarType.Bool).reshape(eventShape).DetachFromDisposeScope();
        condition_channels = tensor((mask.ConditionChannels ?? Array.Empty<long>()).ToArray(), dtype: ScalarType.Int64).DetachFromDisposeScope();
        transform_channels = tensor((mask.TransformChannels ?? Array.Empty<long>()).ToArray(), dtype: ScalarType.Int64).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <summary>The coupling mask (<c>true</c> in <see cref="CouplingMask.Condition"/> = conditioning half).</summary>
    public CouplingMask Mask { get; }

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (!Shapes.EventMatches(input.shape, eventShape))
        {
            throw new ArgumentException(
                $"AffineCoupling.{direction} expects [N, {string.Join(", ", eventShape)}], got {Shapes.Format(input.shape)}.",
                nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => Apply(input, inverse: false);

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => Apply(input, inverse: true);

    private (Tensor Output, Tensor LogDet) Apply(Tensor input, bool inverse)
    {
        if (channelStructured)
        {
            var conditioning = input.index_select(1, condition_channels);
            var changing = input.index_select(1, transform_channels);
            var (s, t) = ScaleAndShift(conditioning);
            var changed = inverse ? changing.mul(s.neg().exp_()).sub_(t) : changing.add(t).mul(s.exp());
            var logDet = SumPerExample(s);
            return (input.index_copy(1, transform_channels, changed), inverse ? logDet.neg_() : logDet);
        }
        else
        {
            var (s, t) = ScaleAndShift(input.mul(condition_mask));
            s = s.mul_(transform_mask);
            var changed = inverse ? input.mul(s.neg().exp_()).sub_(t) : input.add(t).mul(s.exp());
            var logDet = SumPerExample(s);
            return (where(transform_mask, changed, input), inverse ? logDet.neg_() : logDet);
        }
    }

    private (Tensor S, Tensor T) ScaleAndShift(Tensor conditioning)
    {
        var raw = st_net.call(conditioning);
        var halves = raw.chunk(2, 1);
        return (halves[0].tanh().mul(scale), halves[1]);
    }

    /// <inheritdoc/>
    public override string ToString() => $"AffineCoupling({Shapes.Format(eventShape)}, channelStructured={channelStructured})";

    private static CouplingMask CreateMask(long[] eventShape, IMaskStrategy maskStrategy, int layerIndex)
    {
        ArgumentNullException.ThrowIfNull(maskStrategy);
        return maskStrategy.Create(eventShape, layerIndex);
    }
}
