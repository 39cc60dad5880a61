using System;
using System.Collections.Generic;
using FlowOod.Bottlenecks;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// The convolutional auto-encoder st-network of Kirichenko et al. (2020), Sec. 7 (reference <c>--st_type=autoencoder</c>):
/// maps <c>[N, Cin, H, W]</c> to <c>[N, Cout, H, W]</c> through a bottleneck in the middle.
/// </summary>
/// <remarks>
/// <para>Layout (4×4 kernels, no padding, LeakyReLU with slope <see cref="LeakySlope"/>):</para>
/// <list type="number">
/// <item><description><c>encoder</c>: four convolutions Cin → 32 → 64 → 64 → 128 with strides 1, 1, s, s, each followed
/// by LeakyReLU; s = ⌊size/14⌋ per spatial axis (the reference uses the width of square inputs);</description></item>
/// <item><description><c>bottleneck</c>: the module of an <see cref="IBottleneck"/> on the code <c>[128, h, w]</c>
/// (<see cref="FeatureShape"/>) — <see cref="LinearBottleneck"/> gives the paper's flatten → Linear to l → Linear back,
/// without nonlinearity;</description></item>
/// <item><description><c>decoder</c>: the mirrored transposed convolutions 128 → 64 → 64 → 32 with strides s, s, 1, each
/// followed by LeakyReLU, then <c>out_conv</c> 32 → Cout with stride 1 and no activation. Each transposed convolution
/// gets the output padding (&lt; its stride) that restores the size of the matching encoder input exactly, so the output
/// is at the input resolution for any H, W ≥ 14.</description></item>
/// </list>
/// <para>Encoder sizes: 28×28 (s = 2): 28 → 25 → 22 → 10 → 4, code 128·4·4 = 2048; 14×14 (s = 1): 14 → 11 → 8 → 5 → 2,
/// code 512; 32×32: code 3200; 16×16: code 2048. Inputs narrower than 14 give s = 0 and are rejected. No BatchNorm
/// and no [x, −x] doubling (unlike the ResNet st-network); the network has no width parameter.</para>
/// <para><c>out_conv</c> starts at zero, so a fresh coupling layer is the identity; the other layers use PyTorch's
/// default initialisation.</para>
/// </remarks>
internal sealed partial class AutoencoderConditioner : nn.Module<Tensor, Tensor>
{
    /// <summary>Negative slope of every LeakyReLU (PyTorch's default).</summary>
    public const double LeakySlope = 0.01;

    /// <summary>Kernel size of every (transposed) convolution.</summary>
    public const long KernelSize = 4;

    /// <summary>The smallest height and width the network accepts.</summary>
    public const long MinimumSize = 14;

    private static readonly long[] EncoderChannels = [32, 64, 64, 128];

    private readonly ModuleList<Conv2dLayer> encoder;
    private readonly nn.Module<Tensor, Tensor> bottleneck;
    private readonly ModuleList<ConvTranspose2dLayer> decoder;
    private readonly ConvTranspose2dLayer out_conv;
    private readonly long[] inputShape;
    private readonly long[] featureShape;
    private readonly long[][] outputSizes;

    /// <summary>Creates the network for inputs of shape <paramref name="inputShape"/>.</summary>
    /// <param name="inputShape">The per-example input shape <c>[Cin, H, W]</c>, H, W ≥ 14.</param>
    /// <param name="outputChannels">Cout (twice the transformed channels of the coupling layer).</param>
    /// <param name="bottleneck">Creates the module between encoder and decoder (e.g. <c>new LinearBottleneck(100)</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not <c>[C, H, W]</c> or is smaller than 14×14.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="outputChannels"/> is not positive.</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public AutoencoderConditioner(long[] inputShape, long outputChannels, IBottleneck bottleneck, Device? device = null)
        : base(nameof(AutoencoderConditioner))
    {
        ArgumentNullException.ThrowIfNull(bottleneck);
        this.inputShape = ConditionerShapes.RequireImage(inputShape, outputChannels, "autoencoder");
        var heights = EncoderSizes(this.inputShape, 1);
        var widths = EncoderSizes(this.inputShape, 2);
        long strideH = heights.Stride, strideW = widths.Stride;
        var strides = new[] { (1L, 1L), (1L, 1L), (strideH, strideW), (strideH, strideW) };

        var convs = new Conv2dLayer[4];
        var inChannels = this.inputShape[0];
        for (int i = 0; i < 4; i++)
        {
            convs[i] = new Conv2dLayer(inChannels, EncoderChannels[i], (KernelSize, KernelSize), strides[i], device: device);
            inChannels = EncoderChannels[i];
        }

        encoder = new ModuleList<Conv2dLayer>(convs);
        featureShape = [EncoderChannels[3], heights.Sizes[4], widths.Sizes[4]];
        this.bottleneck = bottleneck.Create(featureShape, device);

        // Decoder layer k undoes encoder conv 3 − k: from size[4 − k] back to size[3 − k] with that conv's stride. The
        // target sizes are passed to forward as output_size, which picks the output padding (< stride) per axis. The
        // constructor's output_padding is not used: TorchSharp 0.107 applies its first entry to both axes.
        var deconvs = new ConvTranspose2dLayer[4];
        outputSizes = new long[4][];
        for (int k = 0; k < 4; k++)
        {
            var e = 3 - k;
            var outChannels = e == 0 ? outputChannels : EncoderChannels[e - 1];
            deconvs[k] = new ConvTranspose2dLayer(EncoderChannels[e], outChannels, (KernelSize, KernelSize), strides[e], device: device);
            outputSizes[k] = [heights.Sizes[e], widths.Sizes[e]];
        }

        decoder = new ModuleList<ConvTranspose2dLayer>(deconvs[0], deconvs[1], deconvs[2]);
        out_conv = deconvs[3];
        ZeroInit.Zeroed(out_conv);

        RegisterComponents();
    }

    /// <summary>The shape <c>[128, h, w]</c> of the encoder's output, which the bottleneck squeezes.</summary>
    public IReadOnlyList<long> FeatureShape => featureShape;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="input"/> is not <c>[N, Cin, H, W]</c> of the construction shape.</exception>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!Shapes.EventMatches(input.Sizes(), inputShape))
        {
            throw new ArgumentException(
                $"This autoencoder st-network was built for [N, {string.Join(", ", inputShape)}], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        using var scope = NewDisposeScope();
        var x = input;
        foreach (var conv in encoder)
        {
            x = conv.call(x).LeakyRelu(LeakySlope);
        }

        x = bottleneck.call(x);
        for (int k = 0; k < decoder.Count; k++)
        {
            x = decoder[k].forward(x, outputSizes[k]).LeakyRelu(LeakySlope);
        }

        return scope.MoveToOuter(out_conv.forward(x, outputSizes[3]));
    }

    /// <summary>s = ⌊size/14⌋ for one spatial axis, and the five encoder sizes along it (input first).</summary>
    private static (long Stride, long[] Sizes) EncoderSizes(long[] inputShape, int axis)
    {
        var size = inputShape[axis];
        var stride = size / MinimumSize;
        if (stride == 0)
        {
            throw new ArgumentException(
                $"The autoencoder st-network needs inputs of at least {MinimumSize}×{MinimumSize}: its last two convolutions have "
                + $"stride ⌊size/{MinimumSize}⌋, which is 0 for {(axis == 1 ? "height" : "width")} {size} of input {Shapes.Format(inputShape)}.",
                nameof(inputShape));
        }

        var sizes = new long[5];
        sizes[0] = size;
        var strides = new[] { 1L, 1L, stride, stride };
        for (int i = 0; i < 4; i++)
        {
            sizes[i + 1] = ((sizes[i] - KernelSize) / strides[i]) + 1;
        }

        return (stride, sizes);
    }
}
