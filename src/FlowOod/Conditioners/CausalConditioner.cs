using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// The autoregressive network of <c>Bijectors.AutoregressiveAffine</c>: maps <c>[N, Cin, H, W]</c> to
/// <c>[N, Cout, H, W]</c> so that output pixel (h, w) depends only on input pixels strictly before it in raster order and
/// within a window around it.
/// </summary>
/// <remarks>
/// <para>Layout (after NeLLoC, Zhang, Zhang &amp; McDonagh 2021: one masked k×k convolution, then capacity that does not
/// widen the window): [x, −x] → type-A causal k×k conv 2·Cin → width → ReLU → <c>contextLayers</c> × (type-B causal 3×3
/// conv → ReLU, + identity) → <c>blocks</c> × (1×1 layer → ReLU → 1×1 layer, + identity, ReLU) → 1×1 layer width → Cout,
/// zero-initialised (a fresh layer is the identity). The 1×1 layers are per-pixel linear maps (<c>LinearLayer</c> on
/// the channels of each pixel: parameters <c>weight</c> <c>[out, in]</c>, <c>bias</c> <c>[out]</c>). No normalisation layers.</para>
/// <para>Receptive field: the type-A layer sees the k×k window's causal half; each type-B 3×3 layer widens it by one
/// pixel on every causal side, so with L context layers pixel (h, w) sees rows h − c − L … h and columns
/// w − c − L … w + c + L (c = (k − 1)/2), and never (h, w) itself or any later pixel.</para>
/// </remarks>
internal sealed partial class CausalConditioner : nn.Module<Tensor, Tensor>
{
    private readonly CausalConv2dLayer in_conv;
    private readonly ModuleList<CausalConv2dLayer> context_convs;
    private readonly ModuleList<LinearLayer> block_layers;
    private readonly LinearLayer out_layer;

    /// <summary>Creates the network.</summary>
    public CausalConditioner(long inputChannels, long outputChannels, int window, long width, int contextLayers, int blocks, Device? device = null)
        : base(nameof(CausalConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(contextLayers);
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        in_conv = new CausalConv2dLayer(2 * inputChannels, width, window, includeCentre: false, device);
        context_convs = new ModuleList<CausalConv2dLayer>();
        for (int i = 0; i < contextLayers; i++)
        {
            context_convs.Add(new CausalConv2dLayer(width, width, 3, includeCentre: true, device));
        }

        block_layers = new ModuleList<LinearLayer>();
        for (int i = 0; i < 2 * blocks; i++)
        {
            block_layers.Add(new LinearLayer(width, width, device: device));
        }

        out_layer = ZeroInit.Zeroed(new LinearLayer(width, outputChannels, device: device));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = in_conv.call(cat([input, input.neg()], 1)).relu();
        foreach (var conv in context_convs)
        {
            x = conv.call(x).relu_().Plus(x);
        }

        // The 1×1 layers act on each pixel's feature vector: run them as matrix products over [N, H, W, width] (a
        // channels-last view when the convolutions produce channels-last maps), which libtorch's CPU kernels do several
        // times faster than 1×1 convolutions of this width.
        x = x.permute(0, 2, 3, 1);
        for (int i = 0; i < block_layers.Count; i += 2)
        {
            var inner = block_layers[i].call(x).relu();
            x = block_layers[i + 1].call(inner).Plus(x).relu();
        }

        return scope.MoveToOuter(out_layer.call(x).permute(0, 3, 1, 2));
    }
}
