using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FlowOod.Layers;

// HostConv's F(4×4, 3×3) transforms (Lavin & Gray 2016, interpolation points 0, ±1, ±2, ∞): each 4×4 output tile is
// Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from the 6×6 input tile d around it, 36 products per tile, input and output channel where
// the direct kernel needs 144 (4× fewer; F(2×2, 3×3) needs 64 for the same 16 outputs).
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
//   G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
// Tiles start every 4 pixels; where the image's height or width is not a multiple of 4 the last tile of a row or column
// moves back to end at the image's edge and stores only the pixels the tile before it did not (so no tile reads past
// the border or writes a pixel twice, which accumulating stores could not allow). Both transforms are one 6-point map
// applied down the tile's columns into a scratch tile and then along its rows.
internal sealed partial class HostConv
{
    // Scratch floats a transform needs: 6 × 6 blocks of 16 channels.
    private const int ScratchFloats = 36 * BlockChannels;

    // The top-left interior pixel of tile `tile` and how many of its leading rows and columns the tile before it covered.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Y, int X, int SkipRows, int SkipColumns) Tile4(int tile, int height, int width)
    {
        int across = (width + 3) / 4;
        int y = 4 * (tile / across), x = 4 * (tile % across);
        int y0 = Math.Min(y, height - 4), x0 = Math.Min(x, width - 4);
        return (y0, x0, y - y0, x - x0);
    }

    // V[ξ][t][i] = (Bᵀ d B)[ξ] for the chunk's tiles t, 16 input channels at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInput4<TBlock>(in KernelArgs a, int cs, int first, int count, int pitch, float[] v)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int width = a.PaddedWidth - 2;
        nint plane = (nint)pitch * cs;
        nint row = (nint)a.PaddedWidth * cs;
        Span<float> scratch = stackalloc float[ScratchFloats];
        ref float sRef = ref MemoryMarshal.GetReference(scratch);
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float vRef = ref MemoryMarshal.GetArrayDataReference(v);
        for (int t = 0; t < count; t++)
        {
            // The 6×6 input tile of interior pixel (y, x) starts at padded pixel (y, x).
            var (y, x, _, _) = Tile4(first + t, a.Height, width);
            nint corner = (((nint)y * a.PaddedWidth) + x) * cs;
            for (int c = 0; c < cs; c += BlockChannels)
            {
                ref float d = ref Unsafe.Add(ref inRef, corner + c);

                // Bᵀ down each column j into scratch [r][j], then along each row r into V[6r + k].
                for (int j = 0; j < 6; j++)
                {
                    InputMap<TBlock>(ref Unsafe.Add(ref d, (nint)j * cs), row, ref Unsafe.Add(ref sRef, j * BlockChannels), 6 * BlockChannels);
                }

                ref float to = ref Unsafe.Add(ref vRef, ((nint)t * cs) + c);
                for (int r = 0; r < 6; r++)
                {
                    InputMap<TBlock>(ref Unsafe.Add(ref sRef, 6 * r * BlockChannels), BlockChannels, ref Unsafe.Add(ref to, 6 * r * plane), plane);
                }
            }
        }
    }

    // Bᵀ applied to six blocks d0…d5 `step` floats apart, the six results stored `toStep` floats apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputMap<TBlock>(ref float from, nint step, ref float to, nint toStep)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        var (d0, d1, d2, d3, d4, d5) = Load6<TBlock>(ref from, step);

        // Rows 1–2 are p ± q, rows 3–4 are s ± e.
        var p = d4 - (d2 * 4f);
        var q = d3 - (d1 * 4f);
        var s = d4 - d2;
        var e = (d3 - d1) * 2f;
        ((d0 * 4f) - (d2 * 5f) + d4).StoreTo(ref to);
        (p + q).StoreTo(ref Unsafe.Add(ref to, toStep));
        (p - q).StoreTo(ref Unsafe.Add(ref to, 2 * toStep));
        (s + e).StoreTo(ref Unsafe.Add(ref to, 3 * toStep));
        (s - e).StoreTo(ref Unsafe.Add(ref to, 4 * toStep));
        ((d1 * 4f) - (d3 * 5f) + d5).StoreTo(ref Unsafe.Add(ref to, 5 * toStep));
    }

    // Y = Aᵀ M A + b for the chunk's tiles, stored to the output's pixels the tile owns as the kernels store (addend, ReLU).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TransformOutput4<TBlock>(in KernelArgs a, int first, int count, int pitch, float[] m)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        int os = a.OutputStride;
        int width = a.PaddedWidth - 2;
        nint plane = (nint)pitch * os;
        nint below = (nint)a.PaddedWidth * os;
        Span<float> scratch = stackalloc float[ScratchFloats];
        ref float sRef = ref MemoryMarshal.GetReference(scratch);
        ref float mRef = ref MemoryMarshal.GetArrayDataReference(m);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(bias);
        ref float addRef = ref a.Addend is null ? ref outRef : ref MemoryMarshal.GetArrayDataReference(a.Addend);
        bool accumulate = a.Accumulate, relu = a.Relu;
        for (int t = 0; t < count; t++)
        {
            var (y, x, skipRows, skipColumns) = Tile4(first + t, a.Height, width);
            nint topLeft = ((((nint)y + 1) * a.PaddedWidth) + x + 1) * os;
            for (int cb = 0; cb < os; cb += BlockChannels)
            {
                ref float from = ref Unsafe.Add(ref mRef, ((nint)t * os) + cb);

                // Aᵀ down each column j of M (ξ = 6i + j) into scratch [i][j], i < 4.
                for (int j = 0; j < 6; j++)
                {
                    var (y0, y1, y2, y3) = OutputMap<TBlock>(ref Unsafe.Add(ref from, j * plane), 6 * plane);
                    ref float column = ref Unsafe.Add(ref sRef, j * BlockChannels);
                    y0.StoreTo(ref column);
                    y1.StoreTo(ref Unsafe.Add(ref column, 6 * BlockChannels));
                    y2.StoreTo(ref Unsafe.Add(ref column, 12 * BlockChannels));
                    y3.StoreTo(ref Unsafe.Add(ref column, 18 * BlockChannels));
                }

                // A along each owned row, plus the bias, into the owned pixels.
                var b = TBlock.Load(ref Unsafe.Add(ref bRef, cb));
                for (int r = skipRows; r < 4; r++)
                {
                    var (x0, x1, x2, x3) = OutputMap<TBlock>(ref Unsafe.Add(ref sRef, 6 * r * BlockChannels), BlockChannels);
                    nint at = topLeft + (r * below) + cb;
                    ref float o = ref Unsafe.Add(ref outRef, at);
                    ref float add = ref Unsafe.Add(ref addRef, at);
                    if (skipColumns == 0)
                    {
                        (x0 + b).StoreSum(ref o, ref add, 0, accumulate, relu);
                    }

                    if (skipColumns <= 1)
                    {
                        (x1 + b).StoreSum(ref o, ref add, os, accumulate, relu);
                    }

                    if (skipColumns <= 2)
                    {
                        (x2 + b).StoreSum(ref o, ref add, 2 * os, accumulate, relu);
                    }

                    (x3 + b).StoreSum(ref o, ref add, 3 * os, accumulate, relu);
                }
            }
        }
    }

    // Aᵀ applied to six blocks m0…m5 `step` floats apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TBlock, TBlock, TBlock, TBlock) OutputMap<TBlock>(ref float from, nint step)
        where TBlock : struct, IChannelBlock<TBlock>
    {
        var (m0, m1, m2, m3, m4, m5) = Load6<TBlock>(ref from, step);
        var s1 = m1 + m2;
        var d1 = m1 - m2;
        var s2 = m3 + m4;
        var d2 = m3 - m4;
        return (m0 + s1 + s2, d1 + (d2 * 2f), s1 + (s2 * 4f), d1 + (d2 * 8f) + m5);
    }

    // Six blocks `step` floats apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TBlock, TBlock, TBlock, TBlock, TBlock, TBlock) Load6<TBlock>(ref float from, nint step)
        where TBlock : struct, IChannelBlock<TBlock> =>
        (TBlock.Load(ref from), TBlock.Load(ref Unsafe.Add(ref from, step)), TBlock.Load(ref Unsafe.Add(ref from, 2 * step)),
            TBlock.Load(ref Unsafe.Add(ref from, 3 * step)), TBlock.Load(ref Unsafe.Add(ref from, 4 * step)), TBlock.Load(ref Unsafe.Add(ref from, 5 * step)));
}
