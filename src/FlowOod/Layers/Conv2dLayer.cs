using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// A 2-D convolution with zero padding: FlowOod's replacement for TorchSharp's <c>Conv2d</c>, with the same state-dict
/// keys (<c>weight</c> <c>[Cout, Cin, kh, kw]</c>, <c>bias</c> <c>[Cout]</c>) and the same kernel
/// (<c>nn.functional.conv2d</c>).
/// </summary>
/// <remarks>
/// It exists because TorchSharp's module draws its initial weights from torch's global generator in its constructor,
/// unconditionally. This one initialises the same way (<see cref="ParameterInitialization.DefaultLayerInit"/>: the
/// same draws in the same order, so a seeded build gives the weights TorchSharp's module gave) unless built inside
/// <see cref="ParameterInitialization.Skip"/>, and creates its parameters without TorchSharp's counting artifact.
/// </remarks>
internal sealed partial class Conv2dLayer : nn.Module<Tensor, Tensor>
{
    // Declaration order is registration order, hence state-dict order: weight before bias, as TorchSharp's Conv2d.
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long[] stride;
    private readonly long[] padding;

    /// <summary>Creates the convolution.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout.</param>
    /// <param name="kernelSize">(kh, kw).</param>
    /// <param name="stride">(sh, sw).</param>
    /// <param name="padding">Zero padding on every side.</param>
    /// <param name="hasBias">Whether to add a bias.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public Conv2dLayer(long inputChannels, long outputChannels, (long H, long W) kernelSize, (long H, long W) stride, long padding = 0, bool hasBias = true, Device? device = null)
        : base("Conv2d")
    {
        CheckGeometry(inputChannels, outputChannels, kernelSize, stride);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        weight = ParameterInitialization.Allocate([outputChannels, inputChannels, kernelSize.H, kernelSize.W], device);
        bias = hasBias ? ParameterInitialization.Allocate([outputChannels], device) : null;
        ParameterInitialization.DefaultLayerInit(weight, bias, inputChannels * kernelSize.H * kernelSize.W);
        this.stride = [stride.H, stride.W];
        this.padding = [padding, padding];
        RegisterComponents();
    }

    /// <summary>Creates a square convolution with stride 1.</summary>
    public Conv2dLayer(long inputChannels, long outputChannels, long kernelSize, long padding = 0, bool hasBias = true, Device? device = null)
        : this(inputChannels, outputChannels, (kernelSize, kernelSize), (1, 1), padding, hasBias, device)
    {
    }

    /// <summary>The weight <c>[Cout, Cin, kh, kw]</c> (the parameter itself: do not dispose it).</summary>
    public Parameter Weight => weight;

    /// <summary>The bias <c>[Cout]</c>, or null (the parameter itself: do not dispose it).</summary>
    public Parameter? Bias => bias;

    /// <summary>The stride (sh, sw).</summary>
    public long[] Stride => (long[])stride.Clone();

    /// <summary>The zero padding (ph, pw).</summary>
    public long[] Padding => (long[])padding.Clone();

    /// <inheritdoc/>
    /// <remarks>A bf16 input with fp32 parameters computes with bf16 copies of them (<see cref="LowPrecision"/>); on the
    /// CPU the weight is used channels-last (<see cref="ConvLayout"/>).</remarks>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(Convolution.Conv2d(input, LowPrecision.Match(weight, input)!, LowPrecision.Match(bias, input), stride, padding));
    }

    /// <summary>Throws unless every channel count, kernel size and stride is positive (shared with <see cref="ConvTranspose2dLayer"/>).</summary>
    internal static void CheckGeometry(long inputChannels, long outputChannels, (long H, long W) kernelSize, (long H, long W) stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize.H);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize.W);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.H);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.W);
    }
}
