using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Glow's invertible 1×1 convolution (Kingma &amp; Dhariwal 2018) with an unconstrained weight matrix: a learned
/// linear mixing of the channels, the same at every position.
/// </summary>
/// <remarks>
/// <para>With W the <c>[C, C]</c> parameter <c>weight</c>, for input <c>[N, C, H, W]</c> (or vectors <c>[N, C]</c>,
/// where H·W is replaced by 1):</para>
/// <para>Forward: y[:, :, h, w] = W·x[:, :, h, w] (a 1×1 convolution), LogDet = H·W·log|det W|;</para>
/// <para>Inverse: x = W⁻¹ y, LogDet = −H·W·log|det W|.</para>
/// <para>W starts as a random orthogonal matrix (log|det W| = 0; from the QR factorisation of a Gaussian matrix,
/// drawn from torch's global generator; loading a model file or copying a flow skips the draw, since the stored W is
/// copied in). log|det W| comes from <c>slogdet</c> and W⁻¹ from <c>linalg.inv</c>, both
/// computed in float64 and cast back to the weight's dtype, since a float32 determinant or inverse of a
/// poorly conditioned W loses digits. Nothing keeps W invertible during training: if it drifts towards a singular
/// matrix the log-determinant goes to −∞ and the inverse fails. <see cref="LuInvertibleConv1x1"/> parameterises W so
/// that it stays invertible and its log-determinant costs O(C); Kirichenko et al. (2020) used this plain form.</para>
/// </remarks>
public sealed partial class InvertibleConv1x1 : Bijector
{
    private readonly Parameter weight;
    private readonly long channels;

    /// <summary>Creates the layer with a random orthogonal weight.</summary>
    /// <param name="numChannels">C, the size of dimension 1 of the input.</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numChannels"/> is not positive.</exception>
    public InvertibleConv1x1(long numChannels, Device? device = null)
        : base(nameof(InvertibleConv1x1))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numChannels);
        channels = numChannels;
        using (var scope = NewDisposeScope())
        {
            weight = Parameters.Create(ChannelMixing.RandomOrthogonal(numChannels, device));
        }

        RegisterComponents();
    }

    /// <summary>C, the number of channels (features).</summary>
    public long NumChannels => channels;

    /// <summary>The weight W, <c>[C, C]</c> (the parameter itself, not a copy: do not dispose it).</summary>
    public Tensor Weight => weight;

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        ChannelMixing.Validate(input, channels, nameof(InvertibleConv1x1), direction);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) =>
        (ChannelMixing.Apply(input, weight), ChannelMixing.LogDet(LogAbsDet(), input));

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var inverse = linalg.inv(weight.to(ScalarType.Float64)).to(weight.dtype);
        return (ChannelMixing.Apply(input, inverse), ChannelMixing.LogDet(LogAbsDet(), input).neg_());
    }

    /// <inheritdoc/>
    public override string ToString() => $"InvertibleConv1x1(C={channels})";

    /// <summary>log|det W| computed in float64, in the weight's dtype.</summary>
    private Tensor LogAbsDet()
    {
        var (_, logAbsDet) = linalg.slogdet(weight.to(ScalarType.Float64));
        return logAbsDet.to(weight.dtype);
    }
}
