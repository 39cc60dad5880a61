using System;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates RealNVP's ResNet st-networks (<see cref="ResNetConditioner"/>) of a given width and depth.</summary>
/// <remarks>
/// Image inputs only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>. Without a bottleneck (the default) the
/// networks are RealNVP's; with one (e.g. <see cref="LinearBottleneck"/>) they are the reference code's
/// <c>resnet_ae</c>: the <c>[width, H, W]</c> feature map after ⌊blocks/2⌋ residual blocks goes through the bottleneck
/// and the skip aggregation is dropped (see <see cref="ResNetConditioner"/>).
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
    /// <param name="weightNorm">Use weight-normalised convolutions (<see cref="WeightNormConv2d"/>) as the reference
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
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels) =>
        new ResNetConditioner(inputShape, outputChannels, Width, Blocks, Bottleneck, WeightNorm);

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
