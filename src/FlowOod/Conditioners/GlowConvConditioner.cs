using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// The st-network of the Glow paper (Kingma &amp; Dhariwal 2018): maps <c>[N, Cin, H, W]</c> to <c>[N, Cout, H, W]</c>.
/// </summary>
/// <remarks>
/// <para>Layout: <c>in_conv</c> = 3×3 "same" conv Cin → width → ReLU → <c>mid_conv</c> = 1×1 conv width → width → ReLU
/// → <c>out_conv</c> = 3×3 "same" conv width → Cout. <c>out_conv</c> starts at zero, so a fresh coupling layer is the
/// identity; the others use PyTorch's default initialisation.</para>
/// <para>Differences from the Glow paper: no ActNorm between the convolutions and no learned exp(3·log-scale) factor on
/// the zero-initialised output conv (as the <c>glow_convnet</c> st-network of Kirichenko et al. 2020's code).</para>
/// <para>Parameters: 9·Cin·width + width + width² + width + 9·width·Cout + Cout.</para>
/// </remarks>
internal sealed partial class GlowConvConditioner : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer in_conv;
    private readonly Conv2dLayer mid_conv;
    private readonly Conv2dLayer out_conv;

    /// <summary>Creates the network.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="width">Feature maps inside the network (Glow paper: 512).</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public GlowConvConditioner(long inputChannels, long outputChannels, long width, Device? device = null)
        : base(nameof(GlowConvConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        in_conv = new Conv2dLayer(inputChannels, width, 3, padding: 1, device: device);
        mid_conv = new Conv2dLayer(width, width, 1, device: device);
        out_conv = new Conv2dLayer(width, outputChannels, 3, padding: 1, device: device);
        ZeroInit.Zeroed(out_conv);

        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = in_conv.call(input).relu_();
        x = mid_conv.call(x).relu_();
        return scope.MoveToOuter(out_conv.call(x));
    }
}
