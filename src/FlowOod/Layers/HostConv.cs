using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace FlowOod.Layers;

/// <summary>
/// A stride-1, zero-padded ("same") 1×1 or 3×3 convolution of one image in managed code, on <see cref="HostImage"/>'s
/// padded channels-last layout: y[p, o] = b[o] + Σ_{tap, i} W[o, i, tap]·x[p + tap, i].
/// </summary>
/// <remarks>
/// <para>The first brick of a managed inference path for image flows, where libtorch through TorchSharp pays its cost per
/// operation and runs a batch of one image at modest efficiency; <c>./build.sh bench-fused</c> times it beside libtorch
/// at the compact RealNVP's shapes (docs/performance.md).</para>
/// <para>Kernels: blocks of consecutive pixels (in the padded grid, so a block may straddle a row end; the border columns
/// it writes are scratch) × 16 output channels, twelve accumulators fed by fused multiply-adds, the weights packed per
/// block of 16 output channels as [tap][input channel][16]. With 256-bit vectors a block is 6 pixels, each pixel's 16
/// channels in two 8-float accumulators; where the processor runs 512-bit vectors natively
/// (<see cref="Vector512.IsHardwareAccelerated"/>: AVX-512) a block is 12 pixels of one 16-float accumulator each,
/// which halves the instructions per multiply-add, or, for an even number of 16-channel output blocks, 7 pixels × 32
/// channels (two weight loads and seven broadcasts per fourteen multiply-adds). The input's channel stride is a
/// compile-time constant for 16, 32, 64 and 128 channels (the loop's six pixel offsets then fold into the addressing),
/// a run-time value otherwise. Where 256-bit vectors are native (AVX2, and so AVX-512 too), a 3×3 convolution of a
/// multiple of 16 input channels takes the Winograd form instead, at the default width: F(4×4, 3×3) where the image is
/// at least 4 × 4 and its tiles need fewer products than F(2×2, 3×3)'s, F(2×2, 3×3) otherwise (<see cref="RunWinograd(HostImage, HostImage, bool, int, HostVectorWidth)"/>;
/// 4× and 2.25× fewer multiply-adds; HostConv.Winograd.cs and HostConv.Winograd4.cs have the algebra). Every kernel can add
/// another image and apply ReLU as it stores (the residual blocks' epilogue). Sums are float32 in another order than
/// libtorch's, so results agree to float32 rounding, not bit for bit.</para>
/// <para>Immutable after construction (the weights are copied in; each Winograd form's transformed weights are packed
/// on its first use, once, safely between threads); <see cref="Run(HostImage, HostImage, bool, int)"/> may be called
/// from several threads at once on different outputs. Owns no native memory.</para>
/// </remarks>
internal sealed partial class HostConv
{
    /// <summary>The most pixels a kernel block computes (the 512-bit kernel's): the slack an image keeps after its last row.</summary>
    public const int MaxPixelsPerBlock = WidePixels;

    private const int NarrowPixels = 6;
    private const int WidePixels = 12;
    private const int PairPixels = 7;
    private const int ProductPixels = 8;

    private const int BlockChannels = 16;

    private readonly float[] packed;
    private readonly float[] bias;

    /// <summary>Packs a convolution's weights.</summary>
    /// <param name="weight">W as libtorch stores it, [outChannels, inChannels, k, k] row-major.</param>
    /// <param name="bias">b, [outChannels], or null for none.</param>
    /// <param name="inChannels">Input channels, ≥ 1.</param>
    /// <param name="outChannels">Output channels, ≥ 1.</param>
    /// <param name="kernelSize">k: 1 or 3.</param>
    public HostConv(ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int inChannels, int outChannels, int kernelSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outChannels, 1);
        if (kernelSize is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "Only 1×1 and 3×3 convolutions are computed here.");
        }

        int taps = kernelSize * kernelSize;
        if (weight.Length != (long)outChannels * inChannels * taps)
        {
            throw new ArgumentException(
                $"Expected {outChannels}·{inChannels}·{taps} = {(long)outChannels * inChannels * taps} weights, got {weight.Length}.", nameof(weight));
        }

        if (!bias.IsEmpty && bias.Length != outChannels)
        {
            throw new ArgumentException($"Expected {outChannels} biases or none, got {bias.Length}.", nameof(bias));
        }

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        PaddedOutChannels = (outChannels + BlockChannels - 1) / BlockChannels * BlockChannels;
        packed = new float[(long)PaddedOutChannels * taps * inChannels];
        for (int o = 0; o < outChannels; o++)
        {
            for (int i = 0; i < inChannels; i++)
            {
                for (int t = 0; t < taps; t++)
                {
                    packed[((((o / BlockChannels * taps) + t) * inChannels) + i) * BlockChannels + (o % BlockChannels)] =
                        weight[(((o * inChannels) + i) * taps) + t];
                }
            }
        }

        this.bias = new float[PaddedOutChannels];
        bias.CopyTo(this.bias);
        if (kernelSize == 3 && inChannels % BlockChannels == 0)
        {
            weights3x3 = weight.ToArray();
            zeroBias = new float[PaddedOutChannels];
        }
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>k: 1 or 3.</summary>
    public int KernelSize { get; }

    /// <summary>Output channels rounded up to a multiple of 16: the channel count an output image must have (the extra channels get zeros).</summary>
    public int PaddedOutChannels { get; }

    /// <summary>
    /// output ← conv(input) + b, or output += conv(input) + b when <paramref name="accumulate"/>, for every interior pixel.
    /// </summary>
    /// <param name="input">The input image: <see cref="InChannels"/> channels, its border zero (<see cref="HostImage.ClearBorder"/>).</param>
    /// <param name="output">The output image: <see cref="PaddedOutChannels"/> channels, the input's height and width, not the input.
    /// Its border and slack may be overwritten with scratch values (blocks straddle row ends and run past the last row):
    /// clear its border before it is the input of another convolution.</param>
    /// <param name="accumulate">Whether to add to <paramref name="output"/>'s values instead of replacing them.</param>
    /// <param name="workers">Threads to split the image's rows over, 1 or more (the caller's share of the machine).</param>
    public void Run(HostImage input, HostImage output, bool accumulate, int workers)
    {
        if (UsesWinograd)
        {
            RunWinograd(input, output, accumulate, workers, DefaultWidth);
        }
        else
        {
            Run(input, output, accumulate, workers, DefaultWidth);
        }
    }

    /// <summary>The vector width <see cref="Run(HostImage, HostImage, bool, int)"/> uses: 512 bits where the processor runs them natively.</summary>
    public static HostVectorWidth DefaultWidth { get; } = Vector512.IsHardwareAccelerated ? HostVectorWidth.Bits512 : HostVectorWidth.Bits256;

    /// <summary>As <see cref="Run(HostImage, HostImage, bool, int)"/>, with the kernel of the given vector width (tests and
    /// the bench compare both; a width the processor lacks is emulated, correct but slow).</summary>
    public void Run(HostImage input, HostImage output, bool accumulate, int workers, HostVectorWidth width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Check(input, output);
        if (width is not (HostVectorWidth.Bits256 or HostVectorWidth.Bits512))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, "Not a vector width of this kernel.");
        }

        bool wide = width == HostVectorWidth.Bits512;
        var (pixels, blocks) = Blocks(input, wide);
        RunInParts(Part(input, output, accumulate, wide, 0, blocks * pixels), pixels, workers);
    }

    // Computes `whole` in up to `workers` parts of whole blocks of `block` pixels (the last block may be shorter), on the
    // caller alone or with Parallel.For.
    private void RunInParts(KernelArgs whole, int block, int workers)
    {
        int blocks = (whole.EndPixel - whole.FirstPixel + block - 1) / block;
        workers = Math.Min(workers, blocks);
        if (workers == 1)
        {
            RunPart(whole);
            return;
        }

        Parallel.For(0, workers, part => RunPart(whole with
        {
            FirstPixel = whole.FirstPixel + (blocks * part / workers * block),
            EndPixel = Math.Min(whole.EndPixel, whole.FirstPixel + (blocks * (part + 1) / workers * block)),
        }));
    }

    /// <summary>
    /// As <see cref="Run(HostImage, HostImage, bool, int)"/>, shared in chunks of the image between the caller and the
    /// helper thread when <paramref name="helper"/> holds it, on the caller alone otherwise. The same bits either way: each
    /// output pixel is computed by one thread in the same order. <paramref name="tile"/> as in
    /// <see cref="Run(HostImage, HostImage, HostImage?, bool, HostHelper.Lease, HostVectorWidth?, int)"/>.
    /// </summary>
    public void Run(HostImage input, HostImage output, bool accumulate, HostHelper.Lease helper, int tile = 0) =>
        Run(input, output, accumulate ? output : null, relu: false, helper, tile: tile);

    /// <summary>
    /// output ← ReLU?(conv(input) + b + addend), per interior pixel, by the default kernel, on the caller (and
    /// <paramref name="helper"/>'s thread when it holds one): the epilogue of a residual block in the same pass as the
    /// convolution.
    /// </summary>
    /// <param name="input">As <see cref="Run(HostImage, HostImage, bool, int)"/>.</param>
    /// <param name="output">As <see cref="Run(HostImage, HostImage, bool, int)"/>.</param>
    /// <param name="addend">An image of the output's shape whose values are added (the output itself to accumulate), or
    /// null; not the input.</param>
    /// <param name="relu">Whether to store max(·, 0).</param>
    /// <param name="helper">The helper thread's lease, or none.</param>
    /// <param name="direct">The direct kernel of this width instead of the default kernel (tests), or null.</param>
    /// <param name="tile">Where the default is the Winograd form, its output tile: 2, 4 (on an image of at least 4 × 4), or
    /// 0 for the image's <see cref="WinogradTile"/>.</param>
    public void Run(HostImage input, HostImage output, HostImage? addend, bool relu, HostHelper.Lease helper, HostVectorWidth? direct = null, int tile = 0)
    {
        Check(input, output);
        if (addend is not null && (ReferenceEquals(addend, input) || addend.Channels != output.Channels || addend.Height != output.Height
            || addend.Width != output.Width))
        {
            throw new ArgumentException(
                $"The addend must be {output.Channels} × {output.Height} × {output.Width} and not the input; got {addend.Channels} × {addend.Height} × {addend.Width}.",
                nameof(addend));
        }

        if (direct is not null and not (HostVectorWidth.Bits256 or HostVectorWidth.Bits512))
        {
            throw new ArgumentOutOfRangeException(nameof(direct), direct, "Not a vector width of this kernel.");
        }

        bool wide = (direct ?? DefaultWidth) == HostVectorWidth.Bits512;
        var (pixels, blocks) = Blocks(input, wide);
        tile = tile == 0 ? WinogradTile(input.Height, input.Width) : tile;
        CheckTile(tile, input);
        var (whole, block) = UsesWinograd && direct is null
            ? (WinogradPart(input, output, addend is not null, wide, tile), ShareTiles(wide))
            : (Part(input, output, addend is not null, wide, 0, blocks * pixels), pixels);
        whole = whole with { Addend = addend is null || ReferenceEquals(addend, output) ? null : addend.Data, Relu = relu };
        if (helper.Helper is { } thread)
        {
            thread.Split(this, whole, block);
        }
        else
        {
            RunPart(whole);
        }
    }

    // Computes one range of pixels; arguments checked by the caller.
    internal void RunPart(in KernelArgs args)
    {
        switch (InChannels)
        {
            case 16:
                RunPart<Stride16>(args);
                break;
            case 32:
                RunPart<Stride32>(args);
                break;
            case 64:
                RunPart<Stride64>(args);
                break;
            case 128:
                RunPart<Stride128>(args);
                break;
            default:
                RunPart<RuntimeStride>(args);
                break;
        }
    }

    private void RunPart<TStride>(in KernelArgs args)
        where TStride : struct, IStride
    {
        if (args.Tile != 0)
        {
            WinogradTiles<TStride>(args);
        }
        else
        {
            Direct<TStride>(args, new Operands(packed, 0, bias, KernelSize * KernelSize, args.PaddedWidth + 1));
        }
    }

    // The direct kernel the arguments ask for: 512-bit (pairs of 16-channel blocks where the output has an even number)
    // or 256-bit.
    private void Direct<TStride>(in KernelArgs args, in Operands operands)
        where TStride : struct, IStride
    {
        if (args.Wide && Pairs)
        {
            PairKernel<TStride>(args, operands);
        }
        else if (args.Wide)
        {
            WideKernel<TStride>(args, operands);
        }
        else
        {
            Kernel<TStride>(args, operands);
        }
    }

    // The kernel's block size and the blocks that cover an input's interior rows.
    private (int Pixels, int Blocks) Blocks(HostImage input, bool wide)
    {
        int pixels = !wide ? NarrowPixels : Pairs ? PairPixels : WidePixels;
        return (pixels, ((input.Height * input.PaddedWidth) + pixels - 1) / pixels);
    }

    // Whether the 512-bit direct kernel computes pairs of 16-channel output blocks (7 pixels × 32 channels).
    private bool Pairs => PaddedOutChannels % (2 * BlockChannels) == 0;

    private void Check(HostImage input, HostImage output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (input.Channels != InChannels)
        {
            throw new ArgumentException($"The input has {input.Channels} channels; this convolution takes {InChannels}.", nameof(input));
        }

        if (output.Channels != PaddedOutChannels || output.Height != input.Height || output.Width != input.Width)
        {
            throw new ArgumentException(
                $"The output must be {PaddedOutChannels} × {input.Height} × {input.Width}; got {output.Channels} × {output.Height} × {output.Width}.",
                nameof(output));
        }

        if (ReferenceEquals(input, output))
        {
            throw new ArgumentException("A convolution cannot write into its own input.", nameof(output));
        }
    }

    private static KernelArgs Part(HostImage input, HostImage output, bool accumulate, bool wide, int firstPixel, int endPixel) =>
        new(input.Data, input.PaddedWidth, input.Channels, output.Data, output.Channels, firstPixel, endPixel, accumulate, wide);

    // One range of pixels of one convolution call, or of Tile × Tile output tiles, row by row, for the Winograd form
    // (Tile 2 or 4; 0 for the direct kernels); Height is the image's (the Winograd form's tiles need it). Accumulate adds
    // Addend's values (the output's when null) before the optional ReLU.
    internal readonly record struct KernelArgs(
        float[] Input, int PaddedWidth, int InputStride, float[] Output, int OutputStride, int FirstPixel, int EndPixel, bool Accumulate, bool Wide,
        int Tile = 0, int Height = 0, float[]? Addend = null, bool Relu = false);
}
