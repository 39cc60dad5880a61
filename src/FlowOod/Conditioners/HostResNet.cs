using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// A folded ResNet st-network (<see cref="FusedResNet"/>, plain layout) computed in managed code, image by image: the same
/// layers, on <see cref="HostImage"/> feature maps, with <see cref="HostConv"/> for every convolution (its Winograd form
/// for the 3×3 ones where that is the default).
/// </summary>
/// <remarks>
/// <para>Why: for one image libtorch pays its cost per operation (about 20 per st-network) and runs small convolutions
/// at modest efficiency; for a batch, the Winograd form F(4×4, 3×3) needs 4× fewer multiply-adds than the direct
/// convolutions libtorch's oneDNN runs (one image takes F(2×2, 3×3), 2.25×, whose transformed weights are smaller), and
/// BatchNorm, ReLU and the additions happen while a feature map is in cache.
/// docs/performance.md has the measurements.</para>
/// <para>Computes, per pixel and channel, exactly the folded network's function: n = BN_stem(x), s = [ReLU(n), ReLU(−n)];
/// h₀ = conv_in(s); Σ = tap₀(h₀); per block, hᵢ₊₁ = hᵢ + conv₂(ReLU(conv₁'(ReLU(BNᵢ(hᵢ))))) and Σ += tapᵢ₊₁(hᵢ₊₁); output
/// conv_out(ReLU(Σ)), where conv₁' and the taps carry their folded BatchNorms. The BatchNorms that stay are read from
/// their layers on every call (<see cref="BatchNorm2dLayer.TryReadEvaluationAffine"/>), so the result follows them as
/// the libtorch path does; the frozen convolutions are packed once. Float32 throughout, with sums in another order than
/// libtorch's: agreement to float32 rounding, not bit for bit. A bf16 network (the bf16 inference copy's) is computed the
/// same way, its bf16 weights, statistics and input widened to float32 exactly and the output rounded to bf16 once: more
/// precise than libtorch's bf16 convolutions, which round every feature map, and faster for one image. A batch's images
/// are shared among the calling thread's OpenMP team, libtorch's own threads (<see cref="OpenMpTeam"/>; .NET's thread
/// pool where there is none), each image computed whole by one thread, so a batch's outputs are bit for bit those of its
/// images one by one.</para>
/// <para>Scratch feature maps are kept per thread and reused (about 1 MB per thread for the compact RealNVP; maps of at
/// most 8 shapes, each at most 16 MB: larger images go to libtorch), so a call allocates little besides its output and
/// a pooled copy of its input.
/// Safe to call from several threads at once. Owns no native memory.</para>
/// </remarks>
internal sealed class HostResNet
{
    // Larger images go to libtorch: each scratch map stays at most 16 MB, and a thread keeps maps of at most 8 shapes.
    private const int MaxSide = 4096;
    private const long MaxPooledFloats = 1L << 22;
    private const int MaxPooledShapes = 8;

    // One image's Winograd convolutions take F(2×2, 3×3) (a batch's take each image's HostConv.WinogradTile, F(4×4, 3×3)
    // at the compact RealNVP's sizes): one image reads each convolution's transformed weights U once, from memory rather
    // than cache, and F(4×4, 3×3)'s are 2.25× larger (36 against 16 per input and output channel: 590 against 262 KB
    // for 64 channels), while a batch reuses them for every image (docs/performance.md, the sixth session: single-image
    // p50 2.6–2.75 ms with 2×2 tiles against 3.2–3.6 with 4×4 on a Zen 5).
    private const int SingleImageTile = 2;

    [ThreadStatic]
    private static Dictionary<(int Channels, int Height, int Width), Stack<HostImage>>? pool;

    // The BatchNorm maps of the current call (the stem's a and c, then each block's), reused by the calling thread and
    // read by a batch's other threads during the call.
    [ThreadStatic]
    private static float[]? affineScratch;

    private readonly BatchNorm2dLayer stemNorm;
    private readonly HostConv inConv;
    private readonly (BatchNorm2dLayer Norm, HostConv First, HostConv Second)[] blocks;
    private readonly HostConv[] taps;
    private readonly HostConv outConv;
    private readonly int inChannels;
    private readonly int width;

    private HostResNet(BatchNorm2dLayer stemNorm, HostConv inConv, (BatchNorm2dLayer, HostConv, HostConv)[] blocks, HostConv[] taps, HostConv outConv)
    {
        this.stemNorm = stemNorm;
        this.inConv = inConv;
        this.blocks = blocks;
        this.taps = taps;
        this.outConv = outConv;
        inChannels = inConv.InChannels / 2;
        width = inConv.OutChannels;
    }

    /// <summary>
    /// The managed form of a folded plain-layout network, or null when the managed kernels do not cover it: a conv that
    /// <see cref="FrozenConv.ToHost"/> declines, a width that is not a multiple of 16, or taps that do not match the blocks.
    /// </summary>
    public static HostResNet? TryCreate(
        BatchNorm2dLayer stemNorm,
        FrozenConv inConv,
        IReadOnlyList<(BatchNorm2dLayer Norm, FrozenConv First, FrozenConv Second)> blocks,
        IReadOnlyList<FrozenConv> taps,
        FrozenConv outConv)
    {
        if (taps.Count != blocks.Count + 1)
        {
            return null;
        }

        var hostIn = inConv.ToHost();
        var hostOut = outConv.ToHost();
        var hostTaps = taps.Select(t => t.ToHost()).ToArray();
        var hostBlocks = blocks.Select(b => (b.Norm, First: b.First.ToHost(), Second: b.Second.ToHost())).ToArray();
        if (hostIn is null || hostOut is null || hostTaps.Any(t => t is null || t.KernelSize != 1)
            || hostBlocks.Any(b => b.First is null || b.Second is null) || hostIn.InChannels % 2 != 0)
        {
            return null;
        }

        int width = hostIn.OutChannels;
        bool Maps(HostConv conv, int from, int to) => conv.InChannels == from && conv.OutChannels == to;
        if (width % 16 != 0 || !hostTaps.All(t => Maps(t!, width, width)) || !hostBlocks.All(b => Maps(b.First!, width, width) && Maps(b.Second!, width, width))
            || hostOut.InChannels != width)
        {
            return null;
        }

        return new HostResNet(stemNorm, hostIn, hostBlocks.Select(b => (b.Norm, b.First!, b.Second!)).ToArray(), hostTaps!, hostOut);
    }

    /// <summary>
    /// The network's output <c>[N, Cout, H, W]</c> (a new CPU tensor of the input's dtype, channels last) for
    /// <paramref name="input"/>, or null when this path does not take it: not a float32 or bf16 CPU <c>[N, Cin, H, W]</c>
    /// that needs no gradient, or a BatchNorm that is in training mode or not float32 or bf16 on the CPU (the caller then
    /// runs libtorch).
    /// </summary>
    /// <param name="input">The st-network's input, one image or a batch.</param>
    /// <param name="split">For one image: whether to share each convolution and BatchNorm–ReLU pass with
    /// <see cref="HostHelper"/>'s thread when no other caller holds it (<see cref="FusedResNet"/> asks for it when the
    /// application has opted in and gives libtorch more than one intra-op thread); the same bits either way.</param>
    /// <param name="threads">For a batch: how many threads compute its images at once, the caller's among them, ≥ 1.
    /// Each image is computed whole by one thread, so the bits do not depend on it.</param>
    public Tensor? TryForward(Tensor input, bool split, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var shape = input.Sizes();
        if (input.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || input.device_type != DeviceType.CPU || input.requires_grad
            || shape.Length != 4 || shape[0] < 1 || shape[1] != inChannels || shape[2] > MaxSide || shape[3] > MaxSide
            || HostImage.ElementsFor(Math.Max(width, outConv.PaddedOutChannels), (int)shape[2], (int)shape[3]) > MaxPooledFloats
            || shape[0] * Math.Max(inChannels, outConv.OutChannels) * shape[2] * shape[3] > Array.MaxLength)
        {
            return null;
        }

        // The BatchNorms that stay, as per-channel maps: [stem a, stem c, then per block a and c].
        int stemLength = 2 * inChannels;
        if (affineScratch is null || affineScratch.Length < stemLength + (2 * width * blocks.Length))
        {
            affineScratch = new float[stemLength + (2 * width * blocks.Length)];
        }

        var affines = affineScratch;
        if (!stemNorm.TryReadEvaluationAffine(affines.AsSpan(0, inChannels), affines.AsSpan(inChannels, inChannels)))
        {
            return null;
        }

        for (int b = 0; b < blocks.Length; b++)
        {
            if (!blocks[b].Norm.TryReadEvaluationAffine(Scale(affines, b), Shift(affines, b)))
            {
                return null;
            }
        }

        int images = (int)shape[0], height = (int)shape[2], columns = (int)shape[3];
        int inLength = inChannels * height * columns, outLength = outConv.OutChannels * height * columns;
        var pixels = ArrayPool<float>.Shared.Rent(images * inLength);
        var results = ArrayPool<float>.Shared.Rent(images * outLength);
        try
        {
            using (var widened = input.dtype == ScalarType.Float32 ? null : input.to(ScalarType.Float32))
            using (var dense = (widened ?? input).contiguous())
            {
                MemoryMarshal.Cast<byte, float>(dense.bytes).CopyTo(pixels);
            }

            if (images == 1)
            {
                using var workers = split && HostHelper.Shared is { } helper ? helper.TryAcquire() : default;
                Compute(pixels.AsSpan(0, inLength), height, columns, affines, workers, SingleImageTile, results.AsSpan(0, outLength));
            }
            else
            {
                void One(int image) =>
                    Compute(pixels.AsSpan(image * inLength, inLength), height, columns, affines, default, 0, results.AsSpan(image * outLength, outLength));

                // On libtorch's OpenMP team where there is one (its threads spin after libtorch's last operation and would
                // share the cores with .NET's pool), else on .NET's pool.
                if (threads == 1 || !OpenMpTeam.TryFor(images, threads, One))
                {
                    Parallel.For(0, images, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(threads, images) }, One);
                }
            }

            using var nhwc = empty([images, height, columns, outConv.OutChannels], ScalarType.Float32);
            results.AsSpan(0, images * outLength).CopyTo(MemoryMarshal.Cast<byte, float>(nhwc.bytes));
            if (input.dtype == ScalarType.Float32)
            {
                return nhwc.permute(0, 3, 1, 2);
            }

            using var nchw = nhwc.permute(0, 3, 1, 2);
            return nchw.to(input.dtype);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(pixels);
            ArrayPool<float>.Shared.Return(results);
        }
    }

    // One image: NCHW pixels in, the output's channels per pixel (NHWC) out, on the calling thread (and the helper's
    // when workers holds it), with the thread's scratch maps; the Winograd convolutions with output tiles of `tile` (0: the
    // image's HostConv.WinogradTile).
    private void Compute(ReadOnlySpan<float> image, int height, int columns, float[] affines, HostHelper.Lease workers, int tile, Span<float> destination)
    {
        var stem = Rent(2 * inChannels, height, columns);
        var x = Rent(width, height, columns);
        var next = Rent(width, height, columns);
        var inner = Rent(width, height, columns);
        var innerOut = Rent(width, height, columns);
        var sum = Rent(width, height, columns);
        var output = Rent(outConv.PaddedOutChannels, height, columns);
        try
        {
            Stem(image, affines.AsSpan(0, inChannels), affines.AsSpan(inChannels, inChannels), stem);
            inConv.Run(stem, x, accumulate: false, workers);
            x.ClearBorder();
            taps[0].Run(x, sum, accumulate: false, workers);
            for (int b = 0; b < blocks.Length; b++)
            {
                AffineRelu(x, inner, affines, ScaleAt(b), workers);
                blocks[b].First.Run(inner, innerOut, addend: null, relu: true, workers, tile: tile);
                innerOut.ClearBorder();
                blocks[b].Second.Run(innerOut, next, addend: x, relu: false, workers, tile: tile);
                next.ClearBorder();
                (x, next) = (next, x);
                taps[b + 1].Run(x, sum, accumulate: true, workers);
            }

            AffineRelu(sum, sum, null, 0, workers);
            outConv.Run(sum, output, accumulate: false, workers, tile);
            output.CopyInteriorTo(destination, outConv.OutChannels);
        }
        finally
        {
            Return(stem);
            Return(x);
            Return(next);
            Return(inner);
            Return(innerOut);
            Return(sum);
            Return(output);
        }
    }

    // Block b's BatchNorm map a (scale) and c (shift) in the affine scratch, after the stem's: a at ScaleAt(b), c after it.
    private int ScaleAt(int block) => (2 * inChannels) + (2 * block * width);

    private Span<float> Scale(float[] affines, int block) => affines.AsSpan(ScaleAt(block), width);

    private Span<float> Shift(float[] affines, int block) => affines.AsSpan(ScaleAt(block) + width, width);

    // s = [ReLU(a·x + c), ReLU(−(a·x + c))] per pixel, from the NCHW input; the border cleared.
    private void Stem(ReadOnlySpan<float> input, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, HostImage stem)
    {
        int plane = stem.Height * stem.Width;
        for (int i = 0; i < inChannels; i++)
        {
            var channel = input.Slice(i * plane, plane);
            for (int y = 0; y < stem.Height; y++)
            {
                for (int column = 0; column < stem.Width; column++)
                {
                    float n = (scale[i] * channel[(y * stem.Width) + column]) + shift[i];
                    int at = stem.Offset(y, column) + i;
                    stem.Data[at] = MathF.Max(n, 0);
                    stem.Data[at + inChannels] = MathF.Max(-n, 0);
                }
            }
        }

        stem.ClearBorder();
    }

    // destination ← ReLU(a·source + c) per channel (ReLU alone when affines is null; a and c are the source's channel
    // count of floats each from affines[at]) on the interior, shared by rows with the helper's thread when workers holds
    // it (as the convolutions are, so each thread mostly reads rows it wrote); the border cleared.
    private static void AffineRelu(HostImage source, HostImage destination, float[]? affines, int at, HostHelper.Lease workers)
    {
        if (workers.Helper is { } helper)
        {
            helper.Split(0, source.Height, 1, (first, end) => AffineReluRows(source, destination, affines, at, first, end));
        }
        else
        {
            AffineReluRows(source, destination, affines, at, 0, source.Height);
        }

        destination.ClearBorder();
    }

    // AffineRelu's interior rows [first, end). Channel counts here are multiples of 16.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AffineReluRows(HostImage source, HostImage destination, float[]? affines, int at, int first, int end)
    {
        int channels = source.Channels;
        int rowLength = source.Width * channels;
        bool affine = affines is not null;
        ref float a = ref affine ? ref affines![at] : ref Unsafe.NullRef<float>();
        ref float c = ref affine ? ref affines![at + channels] : ref Unsafe.NullRef<float>();
        for (int y = first; y < end; y++)
        {
            int start = source.Offset(y, 0);
            ref float from = ref source.Data[start];
            ref float to = ref destination.Data[start];
            for (int k = 0; k < rowLength; k += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref from, (nuint)k);
                if (affine)
                {
                    nuint channel = (nuint)(k % channels);
                    v = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref a, channel), Vector256.LoadUnsafe(ref c, channel));
                }

                Vector256.Max(v, Vector256<float>.Zero).StoreUnsafe(ref to, (nuint)k);
            }
        }
    }

    private static HostImage Rent(int channels, int height, int width)
    {
        pool ??= [];
        return pool.TryGetValue((channels, height, width), out var free) && free.Count > 0 ? free.Pop() : new HostImage(channels, height, width);
    }

    private static void Return(HostImage image)
    {
        pool ??= [];
        var key = (image.Channels, image.Height, image.Width);
        if (!pool.TryGetValue(key, out var free))
        {
            if (pool.Count >= MaxPooledShapes)
            {
                pool.Clear();
            }

            pool[key] = free = new Stack<HostImage>();
        }

        free.Push(image);
    }
}
