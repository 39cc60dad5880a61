using System;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates RealNVP's ResNet st-networks of a given width and depth.</summary>
/// <remarks>
/// Image inputs only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>. Without a bottleneck (the default) the
/// networks are RealNVP's; with one (e.g. <see cref="LinearBottleneck"/>) they are the reference code's
/// <c>resnet_ae</c>: the <c>[width, H, W]</c> feature map after ⌊blocks/2⌋ residual blocks goes through the bottleneck
/// and the skip aggregation is dropped (see the layout below).
/// <para>The network's layout: BatchNorm on the input → concatenate [x, −x] → ReLU → 3×3 conv to <c>width</c> maps → <c>blocks</c>
/// residual blocks (BN → ReLU → 3×3 conv → BN → ReLU → 3×3 conv, plus identity); a 1×1 "skip" conv taps the stem and
/// every block and the taps are summed → BN → ReLU → 1×1 conv to <c>Cout</c>. The last conv starts at zero, so a fresh
/// coupling layer is the identity.</para>
/// <para>With a bottleneck (the reference code's <c>resnet_ae</c>, built by the constructor that takes an
/// <see cref="IBottleneck"/> other than <see cref="NoBottleneck"/>): stem → ⌊blocks/2⌋ residual blocks →
/// <c>bottleneck</c> on the <c>[width, H, W]</c> feature map (for <see cref="LinearBottleneck"/>: flatten width·H·W →
/// Linear to l → Linear back, no nonlinearity, reshape) → the remaining blocks → BN → ReLU → 1×1 conv to <c>Cout</c>.
/// There is no skip aggregation in this layout, as in the reference: the skips would carry full-resolution features
/// around the bottleneck. The network is then tied to the H×W it was built for.</para>
/// <para>Differences from the reference code: plain convolutions instead of weight-normalised ones, and no doubling of
/// the normalised input for checkerboard masks.</para>
/// </remarks>
[ComponentName("resnet")]
public sealed class ResNetConditionerFactory : IConditionerFactory, IComponent<ResNetConditionerFactory>
{
    /// <summary>Creates the factory without a bottleneck.</summary>
    /// <param name="width">Feature maps inside the network (RealNVP: 64; FlowOod's compact preset: 32).</param>
    /// <param name="blocks">Residual blocks (RealNVP on Fashion-MNIST: 6; compact preset: 2).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public ResNetConditionerFactory(int width, int blocks)
        : this(width, blocks, NoBottleneck.Instance)
    {
    }

    /// <summary>Creates the factory with a bottleneck after the first ⌊<paramref name="blocks"/>/2⌋ residual blocks.</summary>
    /// <param name="width">Feature maps inside the network.</param>
    /// <param name="blocks">Residual blocks.</param>
    /// <param name="bottleneck">The bottleneck on the <c>[width, H, W]</c> feature map; <see cref="NoBottleneck"/> gives
    /// the plain RealNVP network.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    /// <param name="weightNorm">Use weight-normalised convolutions as the reference
    /// RealNVP code does; default false (plain convolutions, faster).</param>
    public ResNetConditionerFactory(int width, int blocks, IBottleneck bottleneck, bool weightNorm = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        ArgumentNullException.ThrowIfNull(bottleneck);
        Width = width;
        Blocks = blocks;
        Bottleneck = bottleneck;
        WeightNorm = weightNorm;
    }

    /// <summary>Feature maps inside the network.</summary>
    public int Width { get; }

    /// <summary>Residual blocks.</summary>
    public int Blocks { get; }

    /// <summary>Whether the convolutions are weight-normalised.</summary>
    public bool WeightNorm { get; }

    /// <summary>The bottleneck after the first half of the blocks (<see cref="NoBottleneck"/> when there is none).</summary>
    public IBottleneck Bottleneck { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null) =>
        new ResNetConditioner(inputShape, outputChannels, Width, Blocks, Bottleneck, WeightNorm, device);

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("width", Width);
        writer.WriteInt("blocks", Blocks);
        writer.WriteComponent("bottleneck", Bottleneck);
        writer.WriteBool("weightNorm", WeightNorm);
    }

    /// <summary>Reads the stored factory: width ≤ 65536, blocks ≤ 4096, bottleneck, weight norm.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static ResNetConditionerFactory Read(ComponentReader reader) => new(
        reader.ReadInt("width", 1, ComponentLimits.MaxWidth),
        reader.ReadInt("blocks", 0, ComponentLimits.MaxDepth),
        reader.ReadComponent<IBottleneck>("bottleneck"),
        reader.ReadBool("weightNorm"));

    /// <inheritdoc/>
    public override string ToString() =>
        Bottleneck is NoBottleneck ? $"ResNet(width={Width}, blocks={Blocks})" : $"ResNet(width={Width}, blocks={Blocks}, {Bottleneck})";
}
