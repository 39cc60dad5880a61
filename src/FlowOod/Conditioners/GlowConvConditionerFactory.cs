using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates the Glow paper's three-convolution st-networks of a given width.</summary>
/// <remarks>
/// <para>Image inputs only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>; any H and W.</para>
/// <para>The network's layout: <c>in_conv</c> = 3×3 "same" conv Cin → width → ReLU → <c>mid_conv</c> = 1×1 conv width → width → ReLU
/// → <c>out_conv</c> = 3×3 "same" conv width → Cout. <c>out_conv</c> starts at zero, so a fresh coupling layer is the
/// identity; the others use PyTorch's default initialisation.</para>
/// <para>Differences from the Glow paper: no ActNorm between the convolutions and no learned exp(3·log-scale) factor on
/// the zero-initialised output conv (as the <c>glow_convnet</c> st-network of Kirichenko et al. 2020's code).</para>
/// <para>Parameters: 9·Cin·width + width + width² + width + 9·width·Cout + Cout.</para>
/// </remarks>
[ComponentName("glowConv")]
public sealed class GlowConvConditionerFactory : IConditionerFactory, IComponent<GlowConvConditionerFactory>
{
    /// <summary>Creates the factory.</summary>
    /// <param name="width">Feature maps inside the network (Glow paper: 512).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> is not positive.</exception>
    public GlowConvConditionerFactory(int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Width = width;
    }

    /// <summary>Feature maps inside the network.</summary>
    public int Width { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null)
    {
        var shape = ConditionerShapes.RequireImage(inputShape, outputChannels, "Glow convnet");
        return new GlowConvConditioner(shape[0], outputChannels, Width, device);
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer) => writer.WriteInt("width", Width);

    /// <summary>Reads the stored factory: width ≤ 65536.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static GlowConvConditionerFactory Read(ComponentReader reader) => new(reader.ReadInt("width", 1, ComponentLimits.MaxWidth));

    /// <inheritdoc/>
    public override string ToString() => $"GlowConv(width={Width})";
}
