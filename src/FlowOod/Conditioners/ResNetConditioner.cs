using System;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Layers;
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
/// <para>With a bottleneck (the reference code's <c>resnet_ae</c>, built by the constructor that takes an
/// <see cref="IBottleneck"/> other than <see cref="NoBottleneck"/>): stem → ⌊blocks/2⌋ residual blocks →
/// <c>bottleneck</c> on the <c>[width, H, W]</c> feature map (for <see cref="LinearBottleneck"/>: flatten width·H·W →
/// Linear to l → Linear back, no nonlinearity, reshape) → the remaining blocks → BN → ReLU → 1×1 conv to <c>Cout</c>.
/// There is no skip aggregation in this layout, as in the reference: the skips would carry full-resolution features
/// around the bottleneck. The network is then tied to the H×W it was built for.</para>
/// <para>Differences from the reference code: plain convolutions instead of weight-normalised ones, and no doubling of
/// the normalised input for checkerboard masks.</para>
/// </remarks>
internal sealed partial class ResNetConditioner : nn.Module<Tensor, Tensor>, IFoldableConditioner
{
    private readonly BatchNorm2dLayer in_norm;
    private readonly nn.Module<Tensor, Tensor> in_conv;
    private readonly nn.Module<Tensor, Tensor>? in_skip;
    private readonly ModuleList<ResidualBlock> blocks;
    private readonly ModuleList<nn.Module<Tensor, Tensor>>? skips;
    private readonly nn.Module<Tensor, Tensor>? bottleneck;
    private readonly BatchNorm2dLayer out_norm;
    private readonly nn.Module<Tensor, Tensor> out_conv;
    private readonly long[]? inputShape;
    private FusedResNet? fused;

    /// <summary>Creates the network.</summary>
    /// <param name="inputChannels">Cin.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="width">Feature maps inside the network.</param>
    /// <param name="blockCount">Residual blocks.</param>
    /// <param name="weightNorm">Use weight-normalised convolutions (<see cref="WeightNormConv2d"/>), as the reference code does.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="blockCount"/> is negative.</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public ResNetConditioner(long inputChannels, long outputChannels, long width, int blockCount, bool weightNorm = false, Device? device = null)
        : this(inputChannels, outputChannels, width, blockCount, bottleneckShape: null, bottleneckStrategy: null, weightNorm, device)
    {
    }

    /// <summary>Creates the network with a bottleneck after the first ⌊<paramref name="blockCount"/>/2⌋ residual blocks.</summary>
    /// <param name="inputShape">The per-example input shape <c>[Cin, H, W]</c>; the bottleneck sees <c>[width, H, W]</c>.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="width">Feature maps inside the network.</param>
    /// <param name="blockCount">Residual blocks.</param>
    /// <param name="bottleneck">The bottleneck; <see cref="NoBottleneck"/> gives the plain layout (with skip aggregation),
    /// which then accepts any H and W.</param>
    /// <param name="weightNorm">Use weight-normalised convolutions (<see cref="WeightNormConv2d"/>), as the reference code does.</param>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="blockCount"/> is negative.</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public ResNetConditioner(long[] inputShape, long outputChannels, long width, int blockCount, IBottleneck bottleneck, bool weightNorm = false, Device? device = null)
        : this(
            ConditionerShapes.RequireImage(inputShape, outputChannels, "ResNet")[0],
            outputChannels,
            width,
            blockCount,
            bottleneck is NoBottleneck ? null : inputShape,
            bottleneck ?? throw new ArgumentNullException(nameof(bottleneck)),
            weightNorm,
            device)
    {
    }

    private ResNetConditioner(long inputChannels, long outputChannels, long width, int blockCount, long[]? bottleneckShape, IBottleneck? bottleneckStrategy, bool weightNorm, Device? device)
        : base(nameof(ResNetConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blockCount);
        in_norm = new BatchNorm2dLayer(inputChannels, device);
        in_conv = Conv(2 * inputChannels, width, 3, weightNorm, device);
        var blockList = new ResidualBlock[blockCount];
        for (int i = 0; i < blockCount; i++)
        {
            blockList[i] = new ResidualBlock(width, weightNorm, device);
        }

        blocks = new ModuleList<ResidualBlock>(blockList);
        if (bottleneckShape is null || bottleneckStrategy is null)
        {
            in_skip = Conv(width, width, 1, weightNorm, device);
            var skipList = new nn.Module<Tensor, Tensor>[blockCount];
            for (int i = 0; i < blockCount; i++)
            {
                skipList[i] = Conv(width, width, 1, weightNorm, device);
            }

            skips = new ModuleList<nn.Module<Tensor, Tensor>>(skipList);
        }
        else
        {
            inputShape = (long[])bottleneckShape.Clone();
            bottleneck = bottleneckStrategy.Create([width, bottleneckShape[1], bottleneckShape[2]], device);
        }

        out_norm = new BatchNorm2dLayer(width, device);
        out_conv = ZeroInit.Zeroed(Conv(width, outputChannels, 1, weightNorm, device));

        RegisterComponents();
    }

    /// <summary>Whether the network has a bottleneck (the <c>resnet_ae</c> layout, without skip aggregation).</summary>
    public bool HasBottleneck => bottleneck is not null;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The network has a bottleneck and <paramref name="input"/> is not
    /// <c>[N, Cin, H, W]</c> of the construction shape.</exception>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (inputShape is not null && !Shapes.EventMatches(input.Sizes(), inputShape))
        {
            throw new ArgumentException(
                $"This ResNet st-network has a bottleneck built for [N, {string.Join(", ", inputShape)}], got {Shapes.Format(input.Sizes())}.",
                nameof(input));
        }

        if (fused is not null && !training && fused.Accepts(input))
        {
            return fused.Forward(input);
        }

        using var scope = NewDisposeScope();
        Tensor x;
        using (var normalized = in_norm.call(input))
        using (var both = cat(new[] { normalized, normalized.neg() }, 1))
        {
            x = in_conv.call(both.relu_());
        }

        if (bottleneck is not null)
        {
            return scope.MoveToOuter(ForwardWithBottleneck(x, bottleneck));
        }

        var sum = in_skip!.call(x);
        for (int i = 0; i < blocks.Count; i++)
        {
            var next = blocks[i].call(x);
            x.Dispose();
            x = next;
            using var tap = skips![i].call(x);
            sum = sum.PlusInPlace(tap);
        }

        x.Dispose();
        using var normalizedSum = out_norm.call(sum);
        sum.Dispose();
        return scope.MoveToOuter(out_conv.call(normalizedSum.relu_()));
    }

    /// <inheritdoc/>
    public bool IsFolded => fused is not null;

    /// <summary>The folded network, or null (for tests).</summary>
    internal FusedResNet? Folded => fused;

    /// <inheritdoc/>
    /// <remarks>See <see cref="FusedResNet"/> for what is folded. In training mode, or for an input of another dtype or
    /// device than the folded weights, <see cref="forward"/> runs the unfused layers.</remarks>
    public void FoldForInference()
    {
        var replacement = new FusedResNet(
            in_norm,
            in_conv,
            blocks.Select(b => b.Parts).ToArray(),
            skips is null ? null : new[] { in_skip! }.Concat(skips).ToArray(),
            bottleneck,
            out_norm,
            out_conv);
        fused?.Dispose();
        fused = replacement;
    }

    /// <inheritdoc/>
    public void ConvertFolded(ScalarType dtype) => fused?.ConvertTo(dtype);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            fused?.Dispose();
            fused = null;
        }

        base.Dispose(disposing);
    }

    /// <summary>Blocks, with the bottleneck after the first half, then the output head; no skip aggregation.</summary>
    private Tensor ForwardWithBottleneck(Tensor stem, nn.Module<Tensor, Tensor> middle)
    {
        var x = stem;
        for (int i = 0; i < blocks.Count; i++)
        {
            if (i == blocks.Count / 2)
            {
                x = middle.call(x);
            }

            x = blocks[i].call(x);
        }

        if (blocks.Count == 0)
        {
            x = middle.call(x);
        }

        return out_conv.call(out_norm.call(x).relu_());
    }

    /// <summary>BN → ReLU → 3×3 conv → BN → ReLU → 3×3 conv, plus identity.</summary>
    /// <summary>A k×k "same" convolution (k = 1 or 3), weight-normalised or plain.</summary>
    private static nn.Module<Tensor, Tensor> Conv(long input, long output, long kernel, bool weightNorm, Device? device, bool bias = true) =>
        weightNorm
            ? new WeightNormConv2d(input, output, kernel, padding: kernel / 2, hasBias: bias, device: device)
            : new Conv2dLayer(input, output, kernel, padding: kernel / 2, hasBias: bias, device: device);

    private sealed partial class ResidualBlock : nn.Module<Tensor, Tensor>
    {
        private readonly BatchNorm2dLayer in_norm;
        private readonly nn.Module<Tensor, Tensor> in_conv;
        private readonly BatchNorm2dLayer out_norm;
        private readonly nn.Module<Tensor, Tensor> out_conv;

        public ResidualBlock(long width, bool weightNorm, Device? device)
            : base(nameof(ResidualBlock))
        {
            in_norm = new BatchNorm2dLayer(width, device);
            in_conv = Conv(width, width, 3, weightNorm, device, bias: false);
            out_norm = new BatchNorm2dLayer(width, device);
            out_conv = Conv(width, width, 3, weightNorm, device);
            RegisterComponents();
        }

        public ResidualParts Parts => new(in_norm, in_conv, out_norm, out_conv);

        public override Tensor forward(Tensor input)
        {
            using var a = in_norm.call(input);
            using var b = in_conv.call(a.relu_());
            using var c = out_norm.call(b);
            using var d = out_conv.call(c.relu_());
            return d.Plus(input);
        }
    }
}
