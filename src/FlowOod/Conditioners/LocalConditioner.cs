using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// An st-network that sees only a k×k window around each output position: maps <c>[N, Cin, H, W]</c> to
/// <c>[N, Cout, H, W]</c>, output (h, w) a function of the input at rows h − r … h + r and columns w − r … w + r
/// (r = (k − 1)/2) and of nothing else.
/// </summary>
/// <remarks>
/// <para>Layout (after the local models of Zhang, Zhang &amp; McDonagh 2021: one small-window convolution, then
/// capacity that does not widen the window): concatenate [x, −x] (as RealNVP's ResNet st-network does) →
/// <c>in_conv</c> = k×k "same" conv 2·Cin → width → ReLU → <c>blocks</c>
/// residual blocks (1×1 conv → ReLU → 1×1 conv, plus identity, then ReLU) → <c>out_conv</c> = 1×1 conv width → Cout,
/// zero-initialised so that a fresh coupling layer is the identity. No normalisation layers: the network computes the
/// same function in training and evaluation mode.</para>
/// <para>Parameters: 2k²·Cin·width + width + blocks·2·(width² + width) + width·Cout + Cout.</para>
/// </remarks>
internal sealed partial class LocalConditioner : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer in_conv;
    private readonly ModuleList<Conv2dLayer> block_convs;
    private readonly Conv2dLayer out_conv;

    /// <summary>Creates the network.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="window">k, the odd window size.</param>
    /// <param name="width">Feature maps inside the network.</param>
    /// <param name="blockCount">Residual 1×1 blocks.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public LocalConditioner(long inputChannels, long outputChannels, int window, long width, int blockCount, Device? device = null)
        : base(nameof(LocalConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blockCount);
        in_conv = new Conv2dLayer(2 * inputChannels, width, window, padding: window / 2, device: device);
        block_convs = new ModuleList<Conv2dLayer>();
        for (int i = 0; i < 2 * blockCount; i++)
        {
            block_convs.Add(new Conv2dLayer(width, width, 1, device: device));
        }

        out_conv = ZeroInit.Zeroed(new Conv2dLayer(width, outputChannels, 1, device: device));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = in_conv.call(cat([input, input.neg()], 1)).relu();
        for (int i = 0; i < block_convs.Count; i += 2)
        {
            var inner = block_convs[i].call(x).relu();
            x = block_convs[i + 1].call(inner).Plus(x).relu();
        }

        return scope.MoveToOuter(out_conv.call(x));
    }
}
