using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// A 2-D transposed convolution without padding whose output size is chosen per call: FlowOod's replacement for
/// TorchSharp's <c>ConvTranspose2d</c>, with the same state-dict keys (<c>weight</c> <c>[Cin, Cout, kh, kw]</c>,
/// <c>bias</c> <c>[Cout]</c>) and the same kernel (<c>nn.functional.conv_transpose2d</c>).
/// </summary>
/// <remarks>
/// Initialised like TorchSharp's module (kaiming-uniform weight and uniform bias, whose fan-in is libtorch's for a
/// transposed weight: Cout·kh·kw) unless built inside <see cref="ParameterInitialization.Skip"/>; see
/// <see cref="Conv2dLayer"/>.
/// </remarks>
internal sealed partial class ConvTranspose2dLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long[] kernel;
    private readonly long[] stride;

    /// <summary>Creates the transposed convolution.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout.</param>
    /// <param name="kernelSize">(kh, kw).</param>
    /// <param name="stride">(sh, sw).</param>
    /// <param name="hasBias">Whether to add a bias.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public ConvTranspose2dLayer(long inputChannels, long outputChannels, (long H, long W) kernelSize, (long H, long W) stride, bool hasBias = true, Device? device = null)
        : base("ConvTranspose2d")
    {
        Conv2dLayer.CheckGeometry(inputChannels, outputChannels, kernelSize, stride);
        weight = ParameterInitialization.Allocate([inputChannels, outputChannels, kernelSize.H, kernelSize.W], device);
        bias = hasBias ? ParameterInitialization.Allocate([outputChannels], device) : null;
        ParameterInitialization.DefaultLayerInit(weight, bias, outputChannels * kernelSize.H * kernelSize.W);
        kernel = [kernelSize.H, kernelSize.W];
        this.stride = [stride.H, stride.W];
        RegisterComponents();
    }

    /// <summary>The output for the smallest output size (no output padding).</summary>
    public override Tensor forward(Tensor input) => Transposed(input, outputPadding: null);

    /// <summary>
    /// The output of spatial size <paramref name="outputSize"/> (h, w): each must lie in [(in − 1)·s + k, (in − 1)·s + k + s),
    /// the sizes whose output padding is below the stride.
    /// </summary>
    /// <exception cref="ArgumentException">A requested size is not reachable from the input's size.</exception>
    public Tensor forward(Tensor input, long[] outputSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputSize);
        if (input.dim() != 4 || outputSize.Length != 2)
        {
            throw new ArgumentException($"Expected an input [N, C, H, W] and an output size (h, w), got {Shapes.Format(input.Sizes())} and {outputSize.Length} sizes.", nameof(input));
        }

        var outputPadding = new long[2];
        for (int d = 0; d < 2; d++)
        {
            var smallest = ((input.Sizes()[d + 2] - 1) * stride[d]) + kernel[d];
            outputPadding[d] = outputSize[d] - smallest;
            if (outputPadding[d] < 0 || outputPadding[d] >= stride[d])
            {
                throw new ArgumentException(
                    $"Output size {outputSize[d]} on axis {d + 2} is not reachable from input size {input.Sizes()[d + 2]} (kernel {kernel[d]}, stride {stride[d]}).",
                    nameof(outputSize));
            }
        }

        return Transposed(input, outputPadding);
    }

    /// <summary>The kernel call; a bf16 input with fp32 parameters computes with bf16 copies of them (<see cref="LowPrecision"/>).</summary>
    private Tensor Transposed(Tensor input, long[]? outputPadding)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(Convolution.ConvTranspose2d(input, LowPrecision.Match(weight, input)!, LowPrecision.Match(bias, input), stride, outputPadding));
    }
}
