using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>2×2 space-to-depth: <c>[N, C, H, W]</c> → <c>[N, 4C, H/2, W/2]</c>, log-determinant 0.</summary>
/// <remarks>
/// Output channel <c>4c + 2·dy + dx</c> at (i, j) holds input channel c at (2i + dy, 2j + dx): the layout of PyTorch's
/// <c>pixel_unshuffle</c> and of RealNVP's squeeze. For a grayscale image the first two output channels are the top
/// row of every 2×2 block and the last two the bottom row. H and W must be even. <see cref="Bijector.Inverse"/> is
/// depth-to-space.
/// </remarks>
public sealed partial class Squeeze : Bijector
{
    /// <summary>Creates the layer.</summary>
    public Squeeze()
        : base(nameof(Squeeze))
    {
        RegisterComponents();
    }

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (input.dim() != 4)
        {
            throw new ArgumentException($"Squeeze.{direction} expects images [N, C, H, W], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        if (direction == nameof(Forward) && (input.size(2) % 2 != 0 || input.size(3) % 2 != 0))
        {
            throw new ArgumentException($"Squeeze needs even height and width, got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        if (direction == nameof(Inverse) && input.size(1) % 4 != 0)
        {
            throw new ArgumentException($"Squeeze.Inverse needs channels divisible by 4, got {Shapes.Format(input.Sizes())}.", nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
        var output = input.reshape(n, c, h / 2, 2, w / 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h / 2, w / 2);
        return (output, ZeroLogDet(input));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        long n = input.size(0), c = input.size(1) / 4, h = input.size(2), w = input.size(3);
        var output = input.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, h * 2, w * 2);
        return (output, ZeroLogDet(input));
    }

    /// <inheritdoc/>
    public override string ToString() => "Squeeze(2x2)";
}
