using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Multi-scale split (RealNVP's factor-out): keeps the first channels for further transformation by an inner bijector and
/// passes the rest through unchanged as part of the latent.
/// </summary>
/// <remarks>
/// For input <c>[N, C, ...]</c> and <c>keepChannels = k</c>: Forward(x) = concat(inner.Forward(x[:, :k]), x[:, k:])
/// along channels, LogDet = the inner LogDet. The factored-out part x[:, k:] is kept in the output, so the inverse is
/// exact and the output has the input's shape (the inner bijector must preserve the shape of its input). RealNVP keeps
/// half the channels after each squeeze (Kirichenko et al.'s <c>keepChannels</c>).
/// </remarks>
public sealed partial class FactorOut : Bijector
{
    private readonly Bijector inner;
    private readonly long keep;

    /// <summary>Creates the split.</summary>
    /// <param name="keepChannels">k: how many leading channels the inner bijector transforms.</param>
    /// <param name="innerBijector">Transforms the kept channels; must preserve their shape.</param>
    public FactorOut(long keepChannels, Bijector innerBijector)
        : base(nameof(FactorOut))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keepChannels);
        ArgumentNullException.ThrowIfNull(innerBijector);
        keep = keepChannels;
        inner = innerBijector;
        RegisterComponents();
    }

    /// <summary>How many leading channels the inner bijector transforms.</summary>
    public long KeepChannels => keep;

    /// <summary>The bijector applied to the kept channels.</summary>
    public Bijector Inner => inner;

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (input.size(1) <= keep)
        {
            throw new ArgumentException(
                $"FactorOut keeps {keep} channels and needs more than that, got {Shapes.Format(input.Sizes())}.", nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => Apply(input, inverse: false);

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => Apply(input, inverse: true);

    private (Tensor Output, Tensor LogDet) Apply(Tensor input, bool inverse)
    {
        var kept = input.narrow(1, 0, keep);
        var rest = input.narrow(1, keep, input.size(1) - keep);
        var (transformed, logDet) = inverse ? inner.Inverse(kept) : inner.Forward(kept);
        if (!transformed.Sizes().AsSpan().SequenceEqual(kept.Sizes()))
        {
            throw new InvalidOperationException(
                $"FactorOut's inner bijector changed the shape {Shapes.Format(kept.Sizes())} to {Shapes.Format(transformed.Sizes())}; it must preserve it.");
        }

        return (cat(new[] { transformed, rest }, 1), logDet);
    }

    /// <inheritdoc/>
    public override string ToString() => $"FactorOut(keep={keep}, {inner})";
}
