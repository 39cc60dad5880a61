using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading;

namespace FlowOod.Layers;

// HostConv's Winograd path for 3×3 convolutions, F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016): each 2×2 output tile is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from the 4×4 input tile d around it, so the
// 36 multiply-adds per tile, input and output channel of the direct kernel become 16 (2.25× fewer), at the price of the
// transforms (additions only, per tile and channel, not per channel pair).
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
// The 16 products ξ are 16 matrix products M[ξ] = V[ξ]·U[ξ] over the input channels (tiles × Cin by Cin × Cout), each
// computed as a 1×1 convolution of the tiles by a direct kernel (512-bit: 7 tiles × 32 channels, or 12 × 16; 256-bit:
// 6 × 16), in chunks of tiles whose transformed input and products stay in the thread's cache. The transforms are
// written once for a block of 16 channels, one 512-bit vector or two 256-bit ones (IChannelBlock). F(4×4, 3×3)
// (HostConv.Winograd4.cs) shares the packing, the chunks and the products, with 36 of them per 4×4 tile.
internal sealed partial class HostConv
{
    // A call's tiles are computed in chunks of at most ChunkFloats / (positions · (Cin + Cout)) tiles (16 positions for
    // F(2×2, 3×3), 36 for F(4×4, 3×3)), a multiple of the kernel's block: a chunk's V and M (1 MB at most) stay within a
    // core's second-level cache, and U is read once per chunk: the compact RealNVP's 14×14 and 28×28 images are one chunk
    // each. (Measured on a 2-core Zen 5: a 64-channel 14×14 network's four F(2×2, 3×3) convolutions took 212 µs an image
    // in one chunk, 250 µs in chunks of 24 tiles, with the 12 × 16 kernel.)
    private const int ChunkFloats = 1 << 18;

    // G for F(2×2, 3×3), 4 × 3, and for F(4×4, 3×3), 6 × 3 (interpolation points 0, ±1, ±2, ∞), row-major.
    private static readonly double[] G2 = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1];

    private static readonly double[] G4 =
    [
        1.0 / 4, 0, 0,
        -1.0 / 6, -1.0 / 6, -1.0 / 6,
        -1.0 / 6, 1.0 / 6, -1.0 / 6,
        1.0 / 24, 1.0 / 12, 1.0 / 6,
        1.0 / 24, -1.0 / 12, 1.0 / 6,
        0, 0, 1,
    ];

    // The 3×3 weights as libtorch stores them, kept to pack U for each tile size on first use; null when this
    // convolution has no Winograd form (not 3×3, or input channels not a multiple of 16).
    private readonly float[]? weights3x3;

    // U = G g Gᵀ per output and input channel for F(2×2, 3×3) and F(4×4, 3×3), packed as 16 or 36 direct 1×1 weights,
    // [ξ][block of 16 output channels][input channel][16]; each packed once, on first use (Interlocked).
    private float[]? winograd2;
    private float[]? winograd4;

    // The products' bias (none: the output transform adds the convolution's), one per padded output channel.
    private readonly float[]? zeroBias;

    [ThreadStatic]
    private static float[]? transformed;

    [ThreadStatic]
    private static float[]? products;

    /// <summary>Whether this convolution has the Winograd form (3×3, input channels a multiple of 16).</summary>
    public bool HasWinograd => weights3x3 is not null;

    /// <summary>Whether <see cref="Run(HostImage, HostImage, bool, int)"/> takes the Winograd form where there is one: on
    /// processors with native 256-bit vectors (AVX2) or 512-bit ones, at <see cref="DefaultWidth"/>.</summary>
    public static bool WinogradByDefault => Vector256.IsHardwareAccelerated;

    private bool UsesWinograd => weights3x3 is not null && WinogradByDefault;

    /// <summary>
    /// The output tile of the Winograd form for an image of <paramref name="height"/> × <paramref name="width"/>: 4, for
    /// F(4×4, 3×3), where the image is at least 4 × 4 and its 4×4 tiles need fewer products (36 a tile) than its 2×2 ones
    /// (16 a tile), 2 otherwise. (14 × 14: 16 tiles of 4, 576 products, against 49 of 2, 784; 28 × 28: 1,764 against 3,136.)
    /// </summary>
    public static int WinogradTile(int height, int width) =>
        height >= 4 && width >= 4 && 36L * Tiles(height, width, 4) < 16L * Tiles(height, width, 2) ? 4 : 2;

    /// <summary>
    /// As <see cref="Run(HostImage, HostImage, bool, int)"/>, by the Winograd form (<see cref="HasWinograd"/> must hold)
    /// with the image's <see cref="WinogradTile"/> and vectors of <paramref name="width"/> (a width the processor lacks is
    /// emulated, correct but slow). Sums are in another order than the direct kernel's: the two agree to float32 rounding
    /// (F(4×4, 3×3)'s transforms, with entries up to 8, lose a few more bits than F(2×2, 3×3)'s).
    /// </summary>
    public void RunWinograd(HostImage input, HostImage output, bool accumulate, int workers, HostVectorWidth width)
    {
        ArgumentNullException.ThrowIfNull(input);
        RunWinograd(input, output, accumulate, workers, width, WinogradTile(input.Height, input.Width));
    }

    /// <summary>As <see cref="RunWinograd(HostImage, HostImage, bool, int, HostVectorWidth)"/>, with output tiles of
    /// <paramref name="tile"/>: 2 for F(2×2, 3×3), or 4 for F(4×4, 3×3) on an image of at least 4 × 4.</summary>
    public void RunWinograd(HostImage input, HostImage output, bool accumulate, int workers, HostVectorWidth width, int tile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Check(input, output);
        if (width is not (HostVectorWidth.Bits256 or HostVectorWidth.Bits512))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, "Not a vector width of this kernel.");
        }

        CheckTile(tile, input);
        if (weights3x3 is null)
        {
            throw new InvalidOperationException($"A {KernelSize}×{KernelSize} convolution of {InChannels} input channels has no Winograd form.");
        }

        bool wide = width == HostVectorWidth.Bits512;
        RunInParts(WinogradPart(input, output, accumulate, wide, tile), ShareTiles(wide), workers);
    }

    // Throws unless `tile` is 2, or 4 on an image of at least 4 × 4.
    private static void CheckTile(int tile, HostImage input)
    {
        if (tile is not (2 or 4) || (tile == 4 && (input.Height < 4 || input.Width < 4)))
        {
            throw new ArgumentOutOfRangeException(
                nameof(tile), tile, $"The output tile must be 2, or 4 on an image of at least 4 × 4 (this one is {input.Height} × {input.Width}).");
        }
    }

    // Tiles per share of a split call (HostHelper's chunks and Parallel.For's parts are whole shares): four of the kernel's
    // blocks.
    private int ShareTiles(bool wide) => 4 * TileBlock(wide);

    // Tiles per block of the kernel that computes the products (the direct kernel's pixels per block).
    private int TileBlock(bool wide) => !wide ? NarrowPixels : Pairs ? PairPixels : WidePixels;

    // Tiles per block for the products of `tiles` tiles: ProductKernel's 8 where its blocks cover them with fewer stale
    // tiles than PairKernel's 7 (16 tiles: 16 against 21), TileBlock(wide) otherwise.
    private int TileBlock(bool wide, int tiles) =>
        wide && Pairs && RoundUp(tiles, ProductPixels) < RoundUp(tiles, PairPixels) ? ProductPixels : TileBlock(wide);

    private static int RoundUp(int count, int block) => (count + block - 1) / block * block;

    // The tile × tile output tiles that cover an image, row by row.
    private static int Tiles(int height, int width, int tile) => ((height + tile - 1) / tile) * ((width + tile - 1) / tile);

    // The whole image's tiles as one call's arguments (their weights packed by now).
    private KernelArgs WinogradPart(HostImage input, HostImage output, bool accumulate, bool wide, int tile)
    {
        _ = WinogradWeights(tile);
        return Part(input, output, accumulate, wide, 0, Tiles(input.Height, input.Width, tile)) with { Tile = tile, Height = input.Height };
    }

    // U for the tile size, packed on first use.
    private float[] WinogradWeights(int tile)
    {
        ref float[]? field = ref tile == 4 ? ref winograd4 : ref winograd2;
        var packedU = Volatile.Read(ref field);
        if (packedU is null)
        {
            var made = PackWinograd(weights3x3!, InChannels, OutChannels, PaddedOutChannels, tile == 4 ? G4 : G2);
            packedU = Interlocked.CompareExchange(ref field, made, null) ?? made;
        }

        return packedU;
    }

    // U[ξ] = (G g Gᵀ)[ξ] for every output and input channel, in double, packed as the fields say; G is n × 3, row-major.
    private static float[] PackWinograd(float[] weight, int inChannels, int outChannels, int paddedOut, double[] gMatrix)
    {
        int n = gMatrix.Length / 3;
        var packed = new float[(long)paddedOut * n * n * inChannels];
        Span<double> gg = stackalloc double[3 * n];
        for (int o = 0; o < outChannels; o++)
        {
            for (int i = 0; i < inChannels; i++)
            {
                int g = ((o * inChannels) + i) * 9;

                // G g: n × 3.
                for (int r = 0; r < n; r++)
                {
                    for (int c = 0; c < 3; c++)
                    {
                        gg[(3 * r) + c] = (gMatrix[3 * r] * weight[g + c]) + (gMatrix[(3 * r) + 1] * weight[g + 3 + c]) + (gMatrix[(3 * r) + 2] * weight[g + 6 + c]);
                    }
                }

                // (G g) Gᵀ: n × n, position ξ = n·r + col.
                for (int r = 0; r < n; r++)
                {
                    for (int col = 0; col < n; col++)
                    {
                        double u = (gg[3 * r] * gMatrix[3 * col]) + (gg[(3 * r) + 1] * gMatrix[(3 * col) + 1]) + (gg[(3 * r) + 2] * gMatrix[(3 * col) + 2]);
                        int xi = (n * r) + col;
                        packed[(((xi * paddedOut) + (o / BlockChannels * BlockChannels)) * inChannels) + (i * BlockChannels) + (o % BlockChannels)] = (float)u;
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
        int positions = (a.Tile + 2) * (a.Tile + 2);
        int block = TileBlock(a.Wide, a.EndPixel - a.FirstPixel);
        int chunk = Math.Min(ChunkFloats / positions / (cs + os) / block * block, RoundUp(a.EndPixel - a.FirstPixel, block));
        chunk = Math.Max(chunk, block);

        // V's and M's planes are `pitch` tiles apart, one more than a chunk: at 16 tiles of 64 channels a plane is 4 KB, and
        // the transforms' 36 accesses per tile, 4 KB apart, would all fall into one set of the first-level cache.
        int pitch = chunk + 1;
        int length = positions * pitch * Math.Max(cs, os);
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
                WinogradChunk<TStride, Block512>(a, cs, os, first, count, chunk, pitch, block, transformed, products!);
            }
            else
            {
                WinogradChunk<TStride, Block256>(a, cs, os, first, count, chunk, pitch, block, transformed, products!);
            }
        }
    }

    // One chunk of tiles: V from the input, M = V·U by the direct kernel of the block's width, the output from M.
    private void WinogradChunk<TStride, TBlock>(in KernelArgs a, int cs, int os, int first, int count, int chunk, int pitch, int block, float[] v, float[] m)
        where TStride : struct, IStride
        where TBlock : struct, IChannelBlock<TBlock>
    {
        bool large = a.Tile == 4;
        if (large)
        {
            TransformInput4<TBlock>(a, cs, first, count, pitch, v);
        }
        else
        {
            TransformInput<TBlock>(a, cs, first, count, pitch, v);
        }

        Multiply<TStride>(cs, os, chunk, pitch, a.Tile, block, TBlock.Wide, v, m);
        if (large)
        {
            TransformOutput4<TBlock>(a, first, count, pitch, m);
        }
        else
        {
            TransformOutput<TBlock>(a, first, count, pitch, m);
        }
    }

    // V[ξ][t][i] = (Bᵀ d B)[ξ] for the chunk's tiles t, 16 input channels at a time, in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInput<TBlock>(in KernelArgs a, int cs, int first, int count, int pitch, float[] v)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int across = (a.PaddedWidth - 1) / 2;
        nint plane = (nint)pitch * cs;
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
    // (the output transform adds it), or by ProductKernel where `block` is its. ξ outermost: V[ξ] (chunk × Cin) and U[ξ]
    // are read from the nearest cache for every block of output channels.
    private void Multiply<TStride>(int cs, int os, int chunk, int pitch, int tile, int block, bool wide, float[] v, float[] m)
        where TStride : struct, IStride
    {
        var u = WinogradWeights(tile);
        int positions = (tile + 2) * (tile + 2);
        for (int xi = 0; xi < positions; xi++)
        {
            var product = new KernelArgs(v, PaddedWidth: 0, cs, m, os, FirstPixel: xi * pitch, EndPixel: (xi * pitch) + chunk, Accumulate: false, wide);
            if (block == ProductPixels)
            {
                ProductKernel<TStride>(product, u, xi * PaddedOutChannels * cs);
            }
            else
            {
                Direct<TStride>(product, new Operands(u, xi * PaddedOutChannels * cs, zeroBias!, Taps: 1, Centre: 0));
            }
        }
    }

    // Y = Aᵀ M A + b for the chunk's tiles, stored to the output's 2×2 pixels as the kernels store (addend, ReLU), in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TransformOutput<TBlock>(in KernelArgs a, int first, int count, int pitch, float[] m)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int os = a.OutputStride;
        int across = (a.PaddedWidth - 1) / 2;
        nint plane = (nint)pitch * os;
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
}
