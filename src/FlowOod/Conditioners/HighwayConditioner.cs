using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// Glow's highway st-network (as in Kirichenko et al. 2020's code): maps <c>[N, Cin, H, W]</c> to <c>[N, Cout, H, W]</c>.
/// </summary>
/// <remarks>
/// <para>Layout: <c>in_conv</c> = 3×3 "same" conv Cin → width; then <c>layers</c> highway layers, each
/// out = h(x)·σ(g(x)) + x·(1 − σ(g(x))) with h and g 3×3 "same" convs width → width; then <c>out_conv</c> = 1×1 conv
/// width → Cout. No normalisation and no other nonlinearity. All 3×3 conv weights start N(0, 0.05²) (standard deviation
/// 0.05) with zero biases; <c>out_conv</c> starts at zero, so a fresh coupling layer is the identity.</para>
/// <para>Parameters: 9·Cin·width + width + layers·2·(9·width² + width) + width·Cout + Cout.</para>
/// </remarks>
internal sealed partial class HighwayConditioner : nn.Module<Tensor, Tensor>
{
    /// <summary>Standard deviation of the N(0, σ²) initialisation of the 3×3 convolutions.</summary>
    public const double InitStd = 0.05;

    private readonly Conv2dLayer in_conv;
    private readonly ModuleList<HighwayLayer> layers;
    private readonly Conv2dLayer out_conv;

    /// <summary>Creates the network.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="width">Feature maps inside the network (Glow on Fashion-MNIST in the reference code: 200).</param>
    /// <param name="layerCount">Highway layers (reference: 3).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="layerCount"/> is negative.</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public HighwayConditioner(long inputChannels, long outputChannels, long width, int layerCount, Device? device = null)
        : base(nameof(HighwayConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(layerCount);
        in_conv = new Conv2dLayer(inputChannels, width, 3, padding: 1, device: device);
        InitNormal(in_conv);
        var list = new HighwayLayer[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            list[i] = new HighwayLayer(width, device);
        }

        layers = new ModuleList<HighwayLayer>(list);
        out_conv = new Conv2dLayer(width, outputChannels, 1, device: device);
        ZeroInit.Zeroed(out_conv);

        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = in_conv.call(input);
        foreach (var layer in layers)
        {
            x = layer.call(x);
        }

        return scope.MoveToOuter(out_conv.call(x));
    }

    private static void InitNormal(Conv2dLayer conv)
    {
        ParameterInitialization.Normal(conv.Weight, 0.0, InitStd);
        ParameterInitialization.Zero(conv.Bias!);
    }

    /// <summary>out = h(x)·σ(g(x)) + x·(1 − σ(g(x))), h and g 3×3 "same" convs.</summary>
    private sealed partial class HighwayLayer : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2dLayer h_conv;
        private readonly Conv2dLayer gate_conv;

        public HighwayLayer(long width, Device? device)
            : base(nameof(HighwayLayer))
        {
            h_conv = new Conv2dLayer(width, width, 3, padding: 1, device: device);
            gate_conv = new Conv2dLayer(width, width, 3, padding: 1, device: device);
            InitNormal(h_conv);
            InitNormal(gate_conv);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var gate = gate_conv.call(input).sigmoid_();
            var carried = input.mul(gate.neg().PlusInPlace(1.0));
            return scope.MoveToOuter(h_conv.call(input).mul_(gate).PlusInPlace(carried));
        }
    }
}
