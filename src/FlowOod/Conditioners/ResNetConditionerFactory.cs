using System;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates RealNVP's ResNet st-networks (<see cref="ResNetConditioner"/>) of a given width and depth.</summary>
public sealed class ResNetConditionerFactory : IConditionerFactory
{
    /// <summary>Creates the factory.</summary>
    /// <param name="width">Feature maps inside the network (RealNVP: 64; FlowOod's compact preset: 32).</param>
    /// <param name="blocks">Residual blocks (RealNVP on Fashion-MNIST: 6; compact preset: 2).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public ResNetConditionerFactory(int width, int blocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        Width = width;
        Blocks = blocks;
    }

    /// <summary>Feature maps inside the network.</summary>
    public int Width { get; }

    /// <summary>Residual blocks.</summary>
    public int Blocks { get; }

    /// <inheritdoc/>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"The ResNet st-network needs an image input [C, H, W], got {Shapes.Format(inputShape)}.", nameof(inputShape));
        }

        return new ResNetConditioner(inputShape[0], outputChannels, Width, Blocks);
    }

    /// <inheritdoc/>
    public override string ToString() => $"ResNet(width={Width}, blocks={Blocks})";
}
