using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// A weight-normalised 2-D convolution (Salimans &amp; Kingma 2016), as in RealNVP's reference ResNet st-network:
/// W = g ⊙ V / ‖V‖ with one gain g per output channel and ‖V‖ the L2 norm of each output channel's kernel.
/// </summary>
/// <remarks>
/// Parameters (state-dict keys): <c>weight_v</c> <c>[Cout, Cin, k, k]</c>, <c>weight_g</c> <c>[Cout, 1, 1, 1]</c> and
/// <c>bias</c> <c>[Cout]</c> (when present). Initialised so that W equals a default-initialised <c>Conv2d</c>'s weight
/// (g = ‖V‖). Shapes: <c>[N, Cin, H, W]</c> → <c>[N, Cout, H', W']</c>, stride 1, zero padding on every side.
/// </remarks>
internal sealed partial class WeightNormConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight_v;
    private readonly Parameter weight_g;
    private readonly Parameter? bias;
    private readonly long[] padding;

    /// <summary>Creates the convolution.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout.</param>
    /// <param name="kernelSize">k (square kernels).</param>
    /// <param name="padding">Zero padding on every side.</param>
    /// <param name="hasBias">Whether to add a bias.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public WeightNormConv2d(long inputChannels, long outputChannels, long kernelSize, long padding = 0, bool hasBias = true, Device? device = null)
        : base(nameof(WeightNormConv2d))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        // V and the bias get a default-initialised Conv2d's values (the same draws in the same order as Conv2dLayer), and
        // g = ‖V‖ so that W = V at the start; inside ParameterInitialization.Skip nothing is drawn or computed.
        weight_v = ParameterInitialization.Allocate([outputChannels, inputChannels, kernelSize, kernelSize], device);
        bias = hasBias ? ParameterInitialization.Allocate([outputChannels], device) : null;
        ParameterInitialization.DefaultLayerInit(weight_v, bias, inputChannels * kernelSize * kernelSize);
        if (ParameterInitialization.IsSkipped)
        {
            weight_g = ParameterInitialization.Allocate([outputChannels, 1, 1, 1], device);
        }
        else
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            weight_g = Parameters.Create(Norms(weight_v).detach());
        }

        this.padding = [padding, padding];
        RegisterComponents();
    }

    /// <summary>Sets g and the bias to zero, so the layer outputs zeros (V keeps its direction, so ‖V‖ stays non-zero).</summary>
    public void ZeroOutput()
    {
        ParameterInitialization.Zero(weight_g);
        if (bias is not null)
        {
            ParameterInitialization.Zero(bias);
        }
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        // The normalisation runs in the parameters' precision; a bf16 input then gets a bf16 weight (LowPrecision), used
        // in the form Layers.Convolution gives every trainable convolution.
        var weight = weight_v.mul(weight_g.div(Norms(weight_v)));
        return scope.MoveToOuter(Layers.Convolution.Conv2d(input, LowPrecision.Match(weight, input)!, LowPrecision.Match(bias, input), padding));
    }

    /// <summary>‖V‖ per output channel, shape <c>[Cout, 1, 1, 1]</c>.</summary>
    /// <summary>The bias <c>[Cout]</c>, or null (the parameter itself: do not dispose it).</summary>
    internal Parameter? Bias => bias;

    /// <summary>The zero padding (ph, pw).</summary>
    internal long[] Padding => (long[])padding.Clone();

    /// <summary>The weight this layer convolves with, W = g·V/‖V‖ <c>[Cout, Cin, k, k]</c>: a new tensor without gradient,
    /// in the parameters' dtype (for a frozen inference copy, <see cref="ResNetConditioner"/>).</summary>
    internal Tensor EffectiveWeight()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return scope.MoveToOuter(weight_v.mul(weight_g.div(Norms(weight_v))));
    }

    private static Tensor Norms(Tensor v) => v.flatten(1).Squared().sum(1).sqrt().reshape(v.size(0), 1, 1, 1);
}
