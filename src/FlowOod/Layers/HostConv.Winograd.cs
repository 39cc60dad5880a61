using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FlowOod.Layers;

// HostConv's Winograd path for 3×3 convolutions, F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016): each 2×2 output tile is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from the 4×4 input tile d around it, so the
// 36 multiply-adds per tile, input and output channel of the direct kernel become 16 (2.25× fewer), at the price of the
// transforms (additions only, per tile and channel, not per channel pair).
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
// The 16 products ξ are 16 matrix products M[ξ] = V[ξ]·U[ξ] over the input channels (tiles × Cin by Cin × Cout), each
// computed as a 1×1 convolution of the tiles by a direct kernel (512-bit: 7 tiles × 32 channels, or 12 × 16; 256-bit:
// 6 × 16), in chunks of tiles whose transformed input and products stay in the thread's cache. The transforms are
// written once for a block of 16 channels, one 512-bit vector or two 256-bit ones (IChannelBlock).
internal sealed partial class HostConv
{
    // A call's tiles are computed in chunks of at most ChunkLimit / (Cin + Cout) tiles, a multiple of TileBlock: a chunk's
    // V and M, 16 × tiles × (Cin + Cout) floats (1 MB at most), stay within a core's second-level cache, and U is read once
    // per chunk: the compact RealNVP's 14×14 and 28×28 images are one chunk each. (Measured on a 2-core Zen 5: a
    // 64-channel 14×14 network's four Winograd convolutions took 212 µs an image in one chunk, 250 µs in chunks of 24
    // tiles, with the 12 × 16 kernel.)
    private const int ChunkLimit = 16384;

    // U = G g Gᵀ per output and input channel, packed as 16 direct 1×1 weights, [ξ][block of 16 output channels][input
    // channel][16]; null when this convolution has no Winograd form (not 3×3, or input channels not a multiple of 16).
    private readonly float[]? winograd;

    // The products' bias (none: the output transform adds the convolution's), one per padded output channel.
    private readonly float[]? zeroBias;

    [ThreadStatic]
    private static float[]? transformed;

    [ThreadStatic]
    private static float[]? products;

    /// <summary>Whether this convolution has the Winograd form (3×3, input channels a multiple of 16).</summary>
    public bool HasWinograd => winograd is not null;

    /// <summary>Whether <see cref="Run(HostImage, HostImage, bool, int)"/> takes the Winograd form where there is one: on
    /// processors with native 256-bit vectors (AVX2) or 512-bit ones, at <see cref="DefaultWidth"/>.</summary>
    public static bool WinogradByDefault => Vector256.IsHardwareAccelerated;

    private bool UsesWinograd => winograd is not null && WinogradByDefault;

    /// <summary>
    /// As <see cref="Run(HostImage, HostImage, bool, int)"/>, by the Winograd form (<see cref="HasWinograd"/> must hold)
    /// with vectors of <paramref name="width"/> (a width the processor lacks is emulated, correct but slow). Sums are in
    /// another order than the direct kernel's: the two agree to float32 rounding.
    /// </summary>
    public void RunWinograd(HostImage input, HostImage output, bool accumulate, int workers, HostVectorWidth width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Check(input, output);
        if (width is not (HostVectorWidth.Bits256 or HostVectorWidth.Bits512))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, "Not a vector width of this kernel.");
        }

        if (winograd is null)
        {
            throw new InvalidOperationException($"A {KernelSize}×{KernelSize} convolution of {InChannels} input channels has no Winograd form.");
        }

        bool wide = width == HostVectorWidth.Bits512;
        RunInParts(WinogradPart(input, output, accumulate, wide, 0, Tiles(input)), ShareTiles(wide), workers);
    }

    // Tiles per share of a split call (HostHelper's chunks and Parallel.For's parts are whole shares): four of the kernel's
    // blocks.
    private int ShareTiles(bool wide) => 4 * TileBlock(wide);

    // Tiles per block of the kernel that computes the products (the direct kernel's pixels per block).
    private int TileBlock(bool wide) => !wide ? NarrowPixels : Pairs ? PairPixels : WidePixels;

    // The 2×2 tiles that cover an image, row by row.
    private static int Tiles(HostImage image) => ((image.Height + 1) / 2) * ((image.Width + 1) / 2);

    private static KernelArgs WinogradPart(HostImage input, HostImage output, bool accumulate, bool wide, int firstTile, int endTile) =>
        Part(input, output, accumulate, wide, firstTile, endTile) with { Winograd = true };

    // U[ξ] = (G g Gᵀ)[ξ] for every output and input channel, in double, packed as the type's field says.
    private static float[] PackWinograd(ReadOnlySpan<float> weight, int inChannels, int outChannels, int paddedOut)
    {
        var packed = new float[(long)paddedOut * 16 * inChannels];
        Span<double> g = stackalloc double[9];
        Span<double> gg = stackalloc double[12];
        for (int o = 0; o < outChannels; o++)
        {
            for (int i = 0; i < inChannels; i++)
            {
                for (int k = 0; k < 9; k++)
                {
                    g[k] = weight[(((o * inChannels) + i) * 9) + k];
                }

                // G g: 4 × 3, then (G g) Gᵀ: 4 × 4.
                for (int c = 0; c < 3; c++)
                {
                    gg[c] = g[c];
                    gg[3 + c] = 0.5 * (g[c] + g[3 + c] + g[6 + c]);
                    gg[6 + c] = 0.5 * (g[c] - g[3 + c] + g[6 + c]);
                    gg[9 + c] = g[6 + c];
                }

                for (int r = 0; r < 4; r++)
                {
                    double a = gg[3 * r], b = gg[(3 * r) + 1], c = gg[(3 * r) + 2];
                    Span<double> row = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                    for (int col = 0; col < 4; col++)
                    {
                        int xi = (4 * r) + col;
                        packed[(((xi * paddedOut) + (o / BlockChannels * BlockChannels)) * inChannels) + (i * BlockChannels) + (o % BlockChannels)] = (float)row[col];
                    }
                }
            }
        }

        return packed;
    }

    // Computes the tiles [FirstPixel, EndPixel) of one call, chunk by chunk; arguments checked by the caller.
    private void WinogradTiles<TStride>(in KernelArgs a)
        where TStride : struct, IStride
    {
        int cs = TStride.IsConstant ? TStride.Value : a.InputStride;
        int os = a.OutputStride;
        int block = TileBlock(a.Wide);
        int chunk = Math.Min(ChunkLimit / (cs + os) / block * block, (a.EndPixel - a.FirstPixel + block - 1) / block * block);
        chunk = Math.Max(chunk, block);
        int length = 16 * chunk * Math.Max(cs, os);
        if (transformed is null || transformed.Length < length)
        {
            transformed = new float[length];
            products = new float[length];
        }

        for (int first = a.FirstPixel; first < a.EndPixel; first += chunk)
        {
            int count = Math.Min(chunk, a.EndPixel - first);
            if (a.Wide)
            {
                WinogradChunk<TStride, Block512>(a, cs, os, first, count, chunk, transformed, products!);
            }
            else
            {
                WinogradChunk<TStride, Block256>(a, cs, os, first, count, chunk, transformed, products!);
            }
        }
    }

    // One chunk of tiles: V from the input, M = V·U by the direct kernel of the block's width, the output from M.
    private void WinogradChunk<TStride, TBlock>(in KernelArgs a, int cs, int os, int first, int count, int chunk, float[] v, float[] m)
        where TStride : struct, IStride
        where TBlock : struct, IChannelBlock<TBlock>
    {
        TransformInput<TBlock>(a, cs, first, count, chunk, v);
        Multiply<TStride>(cs, os, chunk, TBlock.Wide, v, m);
        TransformOutput<TBlock>(a, first, count, chunk, m);
    }

    // V[ξ][t][i] = (Bᵀ d B)[ξ] for the chunk's tiles t, 16 input channels at a time, in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInput<TBlock>(in KernelArgs a, int cs, int first, int count, int chunk, float[] v)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int across = (a.PaddedWidth - 1) / 2;
        nint plane = (nint)chunk * cs;
        nint row = (nint)a.PaddedWidth * cs;
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float vRef = ref MemoryMarshal.GetArrayDataReference(v);
        for (int t = 0; t < count; t++)
        {
            int tile = first + t;
            int corner = (2 * (tile / across) * a.PaddedWidth) + (2 * (tile % across));
            for (int c = 0; c < cs; c += 16)
            {
                ref float x = ref Unsafe.Add(ref inRef, ((nint)corner * cs) + c);

                // Bᵀ down each column: rows r0 − r2, r1 + r2, r2 − r1, r1 − r3.
                var (t00, t10, t20, t30) = Column<TBlock>(ref x, row);
                var (t01, t11, t21, t31) = Column<TBlock>(ref Unsafe.Add(ref x, cs), row);
                var (t02, t12, t22, t32) = Column<TBlock>(ref Unsafe.Add(ref x, 2 * cs), row);
                var (t03, t13, t23, t33) = Column<TBlock>(ref Unsafe.Add(ref x, 3 * cs), row);

                // B along each row, stored as V[4i + j].
                ref float to = ref Unsafe.Add(ref vRef, ((nint)t * cs) + c);
                StoreRow(ref to, plane, t00, t01, t02, t03);
                StoreRow(ref Unsafe.Add(ref to, 4 * plane), plane, t10, t11, t12, t13);
                StoreRow(ref Unsafe.Add(ref to, 8 * plane), plane, t20, t21, t22, t23);
                StoreRow(ref Unsafe.Add(ref to, 12 * plane), plane, t30, t31, t32, t33);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TBlock, TBlock, TBlock, TBlock) Column<TBlock>(ref float top, nint row)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        var r0 = TBlock.Load(ref top);
        var r1 = TBlock.Load(ref Unsafe.Add(ref top, row));
        var r2 = TBlock.Load(ref Unsafe.Add(ref top, 2 * row));
        var r3 = TBlock.Load(ref Unsafe.Add(ref top, 3 * row));
        return (r0 - r2, r1 + r2, r2 - r1, r1 - r3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<TBlock>(ref float to, nint plane, TBlock x0, TBlock x1, TBlock x2, TBlock x3)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        (x0 - x2).StoreTo(ref to);
        (x1 + x2).StoreTo(ref Unsafe.Add(ref to, plane));
        (x2 - x1).StoreTo(ref Unsafe.Add(ref to, 2 * plane));
        (x1 - x3).StoreTo(ref Unsafe.Add(ref to, 3 * plane));
    }

    // M[ξ] = V[ξ]·U[ξ] for all the chunk's tiles (those past the call's last tile are computed from stale V and not read):
    // per ξ a 1×1 convolution of the chunk's tiles as pixels, by the direct kernel of the call's width, without bias
    // (TransformOutput adds it). ξ outermost: V[ξ] (chunk × Cin) and U[ξ] are read from the nearest cache for every block
    // of output channels.
    private void Multiply<TStride>(int cs, int os, int chunk, bool wide, float[] v, float[] m)
        where TStride : struct, IStride
    {
        for (int xi = 0; xi < 16; xi++)
        {
            var product = new KernelArgs(v, PaddedWidth: 0, cs, m, os, FirstPixel: xi * chunk, EndPixel: (xi + 1) * chunk, Accumulate: false, wide);
            Direct<TStride>(product, new Operands(winograd!, xi * PaddedOutChannels * cs, zeroBias!, Taps: 1, Centre: 0));
        }
    }

    // Y = Aᵀ M A + b for the chunk's tiles, stored to the output's 2×2 pixels as the kernels store (addend, ReLU), in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TransformOutput<TBlock>(in KernelArgs a, int first, int count, int chunk, float[] m)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int os = a.OutputStride;
        int across = (a.PaddedWidth - 1) / 2;
        nint plane = (nint)chunk * os;
        ref float mRef = ref MemoryMarshal.GetArrayDataReference(m);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(bias);
        ref float addRef = ref a.Addend is null ? ref outRef : ref MemoryMarshal.GetArrayDataReference(a.Addend);
        bool accumulate = a.Accumulate, relu = a.Relu;
        for (int t = 0; t < count; t++)
        {
            int tile = first + t;
            int topLeft = ((((2 * (tile / across)) + 1) * a.PaddedWidth) + (2 * (tile % across))) + 1;
            for (int cb = 0; cb < os; cb += BlockChannels)
            {
                ref float from = ref Unsafe.Add(ref mRef, ((nint)t * os) + cb);

                // Aᵀ down each column: M₀ + M₁ + M₂ and M₁ − M₂ − M₃ (rows of 4 products each).
                var (u00, u10) = Fold<TBlock>(ref from, plane);
                var (u01, u11) = Fold<TBlock>(ref Unsafe.Add(ref from, plane), plane);
                var (u02, u12) = Fold<TBlock>(ref Unsafe.Add(ref from, 2 * plane), plane);
                var (u03, u13) = Fold<TBlock>(ref Unsafe.Add(ref from, 3 * plane), plane);

                var b = TBlock.Load(ref Unsafe.Add(ref bRef, cb));
                nint at = ((nint)topLeft * os) + cb, below = (nint)a.PaddedWidth * os;
                ref float top = ref Unsafe.Add(ref outRef, at);
                ref float addTop = ref Unsafe.Add(ref addRef, at);
                (u00 + u01 + u02 + b).StoreSum(ref top, ref addTop, 0, accumulate, relu);
                (u01 - u02 - u03 + b).StoreSum(ref top, ref addTop, os, accumulate, relu);
                (u10 + u11 + u12 + b).StoreSum(ref Unsafe.Add(ref top, below), ref Unsafe.Add(ref addTop, below), 0, accumulate, relu);
                (u11 - u12 - u13 + b).StoreSum(ref Unsafe.Add(ref top, below), ref Unsafe.Add(ref addTop, below), os, accumulate, relu);
            }
        }
    }

    // Aᵀ applied to one column j of M (ξ = j, 4 + j, 8 + j, 12 + j).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TBlock, TBlock) Fold<TBlock>(ref float column, nint plane)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        var m0 = TBlock.Load(ref column);
        var m1 = TBlock.Load(ref Unsafe.Add(ref column, 4 * plane));
        var m2 = TBlock.Load(ref Unsafe.Add(ref column, 8 * plane));
        var m3 = TBlock.Load(ref Unsafe.Add(ref column, 12 * plane));
        return (m0 + m1 + m2, m1 - m2 - m3);
    }

    // 16 consecutive floats (a block of channels) as the transforms load, add and store them.
    private interface IChannelBlock<TSelf>
        where TSelf : struct, IChannelBlock<TSelf>
    {
        // Whether the direct kernel for the products is the 512-bit one.
        static abstract bool Wide { get; }

        static abstract TSelf Load(ref float at);

        static abstract TSelf operator +(TSelf x, TSelf y);

        static abstract TSelf operator -(TSelf x, TSelf y);

        void StoreTo(ref float at);

        // Stores as the direct kernels store: plus the addend's values at the same place when accumulating, then ReLU.
        void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu);
    }

    // One 512-bit vector.
    private readonly struct Block512 : IChannelBlock<Block512>
    {
        private readonly Vector512<float> all;

        private Block512(Vector512<float> all) => this.all = all;

        public static bool Wide => true;

        public static Block512 Load(ref float at) => new(Vector512.LoadUnsafe(ref at));

        public static Block512 operator +(Block512 x, Block512 y) => new(x.all + y.all);

        public static Block512 operator -(Block512 x, Block512 y) => new(x.all - y.all);

        public void StoreTo(ref float at) => all.StoreUnsafe(ref at);

        public void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu) => Store(ref o, ref addend, offset, all, accumulate, relu);
    }

    // Two 256-bit vectors, channels 0–7 and 8–15.
    private readonly struct Block256 : IChannelBlock<Block256>
    {
        private readonly Vector256<float> low;
        private readonly Vector256<float> high;

        private Block256(Vector256<float> low, Vector256<float> high) => (this.low, this.high) = (low, high);

        public static bool Wide => false;

        public static Block256 Load(ref float at) => new(Vector256.LoadUnsafe(ref at), Vector256.LoadUnsafe(ref at, 8));

        public static Block256 operator +(Block256 x, Block256 y) => new(x.low + y.low, x.high + y.high);

        public static Block256 operator -(Block256 x, Block256 y) => new(x.low - y.low, x.high - y.high);

        public void StoreTo(ref float at)
        {
            low.StoreUnsafe(ref at);
            high.StoreUnsafe(ref at, 8);
        }

        public void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu) =>
            Store(ref o, ref addend, offset, low, high, accumulate, relu);
    }
}
