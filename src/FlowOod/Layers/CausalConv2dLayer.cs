using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// A k×k "same" convolution masked so that output pixel (h, w) sees only input pixels before it in raster order
/// (rows above, and the same row to the left): PixelCNN's masked convolution, with spatial ordering only (every channel
/// of an earlier pixel is visible, no channel of a later one).
/// </summary>
/// <remarks>
/// <para>Type A (<c>includeCentre</c> false) also hides the centre pixel: the first layer of an autoregressive network,
/// so that the output at a pixel never depends on that pixel's own input. Type B (<c>includeCentre</c> true) lets a
/// later layer read the features already computed at the same pixel, which depend on strict predecessors only.</para>
/// <para>The mask M[i, j] = 1 when i &lt; c, or i = c and j &lt; c (j ≤ c for type B), c = (k − 1)/2, is applied to the
/// weight in every forward pass (the weight entries it hides are never used and receive zero gradient). Same state-dict
/// keys as <see cref="Conv2dLayer"/>: <c>weight</c> <c>[Cout, Cin, k, k]</c>, <c>bias</c> <c>[Cout]</c>.</para>
/// </remarks>
internal sealed partial class CausalConv2dLayer : nn.Module<Tensor, Tensor>
{
    // Declaration order is registration order, hence state-dict order: weight before bias.
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long[] padding;
    private readonly int kernelSize;
    private readonly bool includeCentre;

    /// <summary>Creates the convolution with TorchSharp's default initialisation (unless skipped).</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout.</param>
    /// <param name="kernelSize">k, odd.</param>
    /// <param name="includeCentre">False for type A (the first layer), true for type B.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public CausalConv2dLayer(long inputChannels, long outputChannels, int kernelSize, bool includeCentre, Device? device = null)
        : base("CausalConv2d")
    {
        Conv2dLayer.CheckGeometry(inputChannels, outputChannels, (kernelSize, kernelSize), (1, 1));
        if (kernelSize % 2 == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "A causal convolution's kernel size must be odd.");
        }

        weight = ParameterInitialization.Allocate([outputChannels, inputChannels, kernelSize, kernelSize], device);
        bias = ParameterInitialization.Allocate([outputChannels], device);
        ParameterInitialization.DefaultLayerInit(weight, bias, inputChannels * Visible(kernelSize, includeCentre));
        this.kernelSize = kernelSize;
        this.includeCentre = includeCentre;
        padding = [kernelSize / 2, kernelSize / 2];
        RegisterComponents();
    }

    /// <summary>Kernel entries the mask keeps: c·k + c (type A) or c·k + c + 1 (type B), c = (k − 1)/2.</summary>
    public static long Visible(int kernelSize, bool includeCentre)
    {
        int c = kernelSize / 2;
        return (c * kernelSize) + c + (includeCentre ? 1 : 0);
    }

    /// <summary>The mask <c>[1, 1, k, k]</c> (1 = visible) in <paramref name="like"/>'s dtype and device.</summary>
    public static Tensor Mask(int kernelSize, bool includeCentre, Tensor like)
    {
        var values = new float[kernelSize * kernelSize];
        long visible = Visible(kernelSize, includeCentre);
        for (int i = 0; i < visible; i++)
        {
            values[i] = 1f;
        }

        using var mask = tensor(values, [1, 1, kernelSize, kernelSize]);
        return mask.to(like.dtype, like.device);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        var w = LowPrecision.Match(weight, input)!;
        var masked = w.mul(Mask(kernelSize, includeCentre, w));
        return scope.MoveToOuter(Convolution.Conv2d(input, masked, LowPrecision.Match(bias, input), padding));
    }
}
