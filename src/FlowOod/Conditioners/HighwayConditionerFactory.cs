using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates Glow's highway st-networks of a given width and depth.</summary>
/// <remarks>
/// <para>Image inputs only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>; any H and W.</para>
/// <para>The network's layout: <c>in_conv</c> = 3×3 "same" conv Cin → width; then <c>layers</c> highway layers, each
/// out = h(x)·σ(g(x)) + x·(1 − σ(g(x))) with h and g 3×3 "same" convs width → width; then <c>out_conv</c> = 1×1 conv
/// width → Cout. No normalisation and no other nonlinearity. All 3×3 conv weights start N(0, 0.05²) (standard deviation
/// 0.05) with zero biases; <c>out_conv</c> starts at zero, so a fresh coupling layer is the identity.</para>
/// <para>Parameters: 9·Cin·width + width + layers·2·(9·width² + width) + width·Cout + Cout.</para>
/// </remarks>
[ComponentName("highway")]
public sealed class HighwayConditionerFactory : IConditionerFactory, IComponent<HighwayConditionerFactory>
{
    /// <summary>Creates the factory.</summary>
    /// <param name="width">Feature maps inside the network (reference Glow: 200 on Fashion-MNIST, 400 on CelebA).</param>
    /// <param name="layers">Highway layers (reference Glow: 3).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> is not positive or <paramref name="layers"/> is negative.</exception>
    public HighwayConditionerFactory(int width, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(layers);
        Width = width;
        Layers = layers;
    }

    /// <summary>Feature maps inside the network.</summary>
    public int Width { get; }

    /// <summary>Highway layers.</summary>
    public int Layers { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null)
    {
        var shape = ConditionerShapes.RequireImage(inputShape, outputChannels, "highway");
        return new HighwayConditioner(shape[0], outputChannels, Width, Layers, device);
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("width", Width);
        writer.WriteInt("layers", Layers);
    }

    /// <summary>Reads the stored factory: width ≤ 65536, layers ≤ 4096.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static HighwayConditionerFactory Read(ComponentReader reader) =>
        new(reader.ReadInt("width", 1, ComponentLimits.MaxWidth), reader.ReadInt("layers", 1, ComponentLimits.MaxDepth));

    /// <inheritdoc/>
    public override string ToString() => $"Highway(width={Width}, layers={Layers})";
}
