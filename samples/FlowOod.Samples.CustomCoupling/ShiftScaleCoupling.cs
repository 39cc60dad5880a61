using System;
using FlowOod.Bijectors;
using FlowOod.Masks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Samples.CustomCoupling;

/// <summary>
/// A user-written coupling layer for images: the conditioning half (mask <c>true</c>) goes through a small conv net that
/// predicts a per-pixel log-scale s and shift t for the other half, y = x ⊙ exp(s) + t (the textbook RealNVP form, shift
/// after scaling), LogDet = Σ s. Any <see cref="IMaskStrategy"/> works.
/// </summary>
public sealed class ShiftScaleCoupling : Bijector
{
    private readonly Sequential net;
    private readonly Tensor condition;
    private readonly Tensor transform;

    /// <summary>Creates the layer for events <paramref name="eventShape"/> ([C, H, W]).</summary>
    public ShiftScaleCoupling(long[] eventShape, IMaskStrategy mask, int layerIndex, int hidden = 16, bool forgetLogDet = false)
        : base(nameof(ShiftScaleCoupling))
    {
        ArgumentNullException.ThrowIfNull(eventShape);
        ArgumentNullException.ThrowIfNull(mask);
        var m = mask.Create(eventShape, layerIndex);
        var channels = eventShape[0];
        net = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding: 1),
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * channels, 3, padding: 1));
        condition = tensor(m.Condition.ToArray()).reshape(eventShape).DetachFromDisposeScope();
        transform = tensor(m.Transform.ToArray()).reshape(eventShape).DetachFromDisposeScope();
        ForgetsLogDet = forgetLogDet;
        RegisterComponents();
    }

    /// <summary>A deliberate bug for the sample's tests: report LogDet = 0 (as if the layer preserved volume).</summary>
    public bool ForgetsLogDet { get; }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        var (s, t) = ScaleAndShift(input);
        var output = where(transform, input.mul(s.exp()).add(t), input);
        return (output, ForgetsLogDet ? ZeroLogDet(input) : SumPerExample(s));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var (s, t) = ScaleAndShift(input);
        var output = where(transform, input.sub(t).mul(s.neg().exp()), input);
        return (output, ForgetsLogDet ? ZeroLogDet(input) : SumPerExample(s).neg());
    }

    // s and t depend on the conditioning entries only, so they are the same in both directions.
    private (Tensor S, Tensor T) ScaleAndShift(Tensor input)
    {
        var halves = net.call(input.mul(condition)).chunk(2, 1);
        return (halves[0].tanh().mul(transform), halves[1].mul(transform));
    }
}
