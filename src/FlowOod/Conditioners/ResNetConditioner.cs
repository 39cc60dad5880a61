using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// RealNVP's ResNet st-network (Dinh et al. 2017, as used by Kirichenko et al. 2020): maps <c>[N, Cin, H, W]</c> to
/// <c>[N, Cout, H, W]</c>.
/// </summary>
/// <remarks>
/// <para>Layout: BatchNorm on the input → concatenate [x, −x] → ReLU → 3×3 conv to <c>width</c> maps → <c>blocks</c>
/// residual blocks (BN → ReLU → 3×3 conv → BN → ReLU → 3×3 conv, plus identity); a 1×1 "skip" conv taps the stem and
/// every block and the taps are summed → BN → ReLU → 1×1 conv to <c>Cout</c>. The last conv starts at zero, so a fresh
/// coupling layer is the identity.</para>
/// <para>Differences from the reference code: plain convolutions instead of weight-normalised ones, and no doubling of
/// the normalised input for checkerboard masks.</para>
/// </remarks>
public sealed class ResNetConditioner : nn.Module<Tensor, Tensor>
{
    private readonly BatchNorm2d in_norm;
    private readonly Conv2d in_conv;
    private readonly Conv2d in_skip;
    private readonly ModuleList<ResidualBlock> blocks;
    private readonly ModuleList<Conv2d> skips;
    private readonly BatchNorm2d out_norm;
    private readonly Conv2d out_conv;

    /// <summary>Creates the network.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="width">Feature maps inside the network.</param>
    /// <param name="blockCount">Residual blocks.</param>
    public ResNetConditioner(long inputChannels, long outputChannels, long width, int blockCount)
        : base(nameof(ResNetConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blockCount);
        in_norm = nn.BatchNorm2d(inputChannels);
        in_conv = nn.Conv2d(2 * inputChannels, width, 3, padding: 1);
        in_skip = nn.Conv2d(width, width, 1);
        var blockList = new ResidualBlock[blockCount];
        var skipList = new Conv2d[blockCount];
        for (int i = 0; i < blockCount; i++)
        {
            blockList[i] = new ResidualBlock(width);
            skipList[i] = nn.Conv2d(width, width, 1);
        }

        blocks = new ModuleList<ResidualBlock>(blockList);
        skips = new ModuleList<Conv2d>(skipList);
        out_norm = nn.BatchNorm2d(width);
        out_conv = nn.Conv2d(width, outputChannels, 1);
        using (no_grad())
        {
            out_conv.weight!.zero_();
            out_conv.bias!.zero_();
        }

        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor x;
        using (var normalized = in_norm.call(input))
        using (var both = cat(new[] { normalized, normalized.neg() }, 1))
        {
            x = in_conv.call(both.relu_());
        }

        var sum = in_skip.call(x);
        for (int i = 0; i < blocks.Count; i++)
        {
            var next = blocks[i].call(x);
            x.Dispose();
            x = next;
            using var tap = skips[i].call(x);
            sum = sum.add_(tap);
        }

        x.Dispose();
        using var normalizedSum = out_norm.call(sum);
        sum.Dispose();
        return scope.MoveToOuter(out_conv.call(normalizedSum.relu_()));
    }

    /// <summary>BN → ReLU → 3×3 conv → BN → ReLU → 3×3 conv, plus identity.</summary>
    private sealed class ResidualBlock : nn.Module<Tensor, Tensor>
    {
        private readonly BatchNorm2d in_norm;
        private readonly Conv2d in_conv;
        private readonly BatchNorm2d out_norm;
        private readonly Conv2d out_conv;

        public ResidualBlock(long width)
            : base(nameof(ResidualBlock))
        {
            in_norm = nn.BatchNorm2d(width);
            in_conv = nn.Conv2d(width, width, 3, padding: 1, bias: false);
            out_norm = nn.BatchNorm2d(width);
            out_conv = nn.Conv2d(width, width, 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var a = in_norm.call(input);
            using var b = in_conv.call(a.relu_());
            using var c = out_norm.call(b);
            using var d = out_conv.call(c.relu_());
            return d.add(input);
        }
    }
}
