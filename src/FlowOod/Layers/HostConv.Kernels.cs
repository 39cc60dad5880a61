using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FlowOod.Layers;

// HostConv's direct kernels (256-bit: 6 pixels × 16 output channels in twelve 8-float accumulators; 512-bit: 12 pixels ×
// 16 output channels, one 16-float accumulator a pixel, or 7 pixels × 32 channels when the output has an even number of
// 16-channel blocks) and the channel strides they are instantiated for.
internal sealed partial class HostConv
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Kernel<TStride>(in KernelArgs a, in Operands operands)
        where TStride : struct, IStride
    {
        int cs = TStride.IsConstant ? TStride.Value : a.InputStride;
        int taps = operands.Taps;
        int centre = operands.Centre;
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float wRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(operands.Weights), operands.Offset);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(operands.Bias);
        ref float addRef = ref a.Addend is null ? ref outRef : ref MemoryMarshal.GetArrayDataReference(a.Addend);
        bool accumulate = a.Accumulate, relu = a.Relu;
        int os = a.OutputStride;
        for (int cb = 0; cb < PaddedOutChannels; cb += BlockChannels)
        {
            var b0 = Vector256.LoadUnsafe(ref bRef, (nuint)cb);
            var b1 = Vector256.LoadUnsafe(ref bRef, (nuint)(cb + 8));
            ref float blockWeights = ref Unsafe.Add(ref wRef, (nint)cb * taps * cs);
            for (int q = a.FirstPixel; q < a.EndPixel; q += NarrowPixels)
            {
                Vector256<float> a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1;
                Vector256<float> a30 = b0, a31 = b1, a40 = b0, a41 = b1, a50 = b0, a51 = b1;
                ref float w = ref blockWeights;
                for (int tap = 0; tap < taps; tap++)
                {
                    int shift = taps == 1 ? centre : ((tap / 3) * a.PaddedWidth) + (tap % 3);
                    ref float x = ref Unsafe.Add(ref inRef, (nint)(q + shift) * cs);
                    for (int i = 0; i < cs; i++)
                    {
                        var w0 = Vector256.LoadUnsafe(ref w);
                        var w1 = Vector256.LoadUnsafe(ref w, 8);
                        var v = Vector256.Create(x);
                        a00 = Vector256.FusedMultiplyAdd(v, w0, a00);
                        a01 = Vector256.FusedMultiplyAdd(v, w1, a01);
                        v = Vector256.Create(Unsafe.Add(ref x, cs));
                        a10 = Vector256.FusedMultiplyAdd(v, w0, a10);
                        a11 = Vector256.FusedMultiplyAdd(v, w1, a11);
                        v = Vector256.Create(Unsafe.Add(ref x, 2 * cs));
                        a20 = Vector256.FusedMultiplyAdd(v, w0, a20);
                        a21 = Vector256.FusedMultiplyAdd(v, w1, a21);
                        v = Vector256.Create(Unsafe.Add(ref x, 3 * cs));
                        a30 = Vector256.FusedMultiplyAdd(v, w0, a30);
                        a31 = Vector256.FusedMultiplyAdd(v, w1, a31);
                        v = Vector256.Create(Unsafe.Add(ref x, 4 * cs));
                        a40 = Vector256.FusedMultiplyAdd(v, w0, a40);
                        a41 = Vector256.FusedMultiplyAdd(v, w1, a41);
                        v = Vector256.Create(Unsafe.Add(ref x, 5 * cs));
                        a50 = Vector256.FusedMultiplyAdd(v, w0, a50);
                        a51 = Vector256.FusedMultiplyAdd(v, w1, a51);
                        x = ref Unsafe.Add(ref x, 1);
                        w = ref Unsafe.Add(ref w, BlockChannels);
                    }
                }

                nint at = ((nint)(q + centre) * os) + cb;
                ref float o = ref Unsafe.Add(ref outRef, at);
                ref float p = ref Unsafe.Add(ref addRef, at);
                Store(ref o, ref p, 0, a00, a01, accumulate, relu);
                Store(ref o, ref p, os, a10, a11, accumulate, relu);
                Store(ref o, ref p, 2 * os, a20, a21, accumulate, relu);
                Store(ref o, ref p, 3 * os, a30, a31, accumulate, relu);
                Store(ref o, ref p, 4 * os, a40, a41, accumulate, relu);
                Store(ref o, ref p, 5 * os, a50, a51, accumulate, relu);
            }
        }
    }

    // The 512-bit kernel: 12 pixels × 16 output channels, one accumulator per pixel.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WideKernel<TStride>(in KernelArgs a, in Operands operands)
        where TStride : struct, IStride
    {
        int cs = TStride.IsConstant ? TStride.Value : a.InputStride;
        int taps = operands.Taps;
        int centre = operands.Centre;
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float wRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(operands.Weights), operands.Offset);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(operands.Bias);
        ref float addRef = ref a.Addend is null ? ref outRef : ref MemoryMarshal.GetArrayDataReference(a.Addend);
        bool accumulate = a.Accumulate, relu = a.Relu;
        int os = a.OutputStride;
        for (int cb = 0; cb < PaddedOutChannels; cb += BlockChannels)
        {
            var b = Vector512.LoadUnsafe(ref bRef, (nuint)cb);
            ref float blockWeights = ref Unsafe.Add(ref wRef, (nint)cb * taps * cs);
            for (int q = a.FirstPixel; q < a.EndPixel; q += WidePixels)
            {
                Vector512<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b, a8 = b, a9 = b, a10 = b, a11 = b;
                ref float w = ref blockWeights;
                for (int tap = 0; tap < taps; tap++)
                {
                    int shift = taps == 1 ? centre : ((tap / 3) * a.PaddedWidth) + (tap % 3);
                    ref float x = ref Unsafe.Add(ref inRef, (nint)(q + shift) * cs);
                    for (int i = 0; i < cs; i++)
                    {
                        var wv = Vector512.LoadUnsafe(ref w);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(x), wv, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, cs)), wv, a1);
                        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 2 * cs)), wv, a2);
                        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 3 * cs)), wv, a3);
                        a4 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 4 * cs)), wv, a4);
                        a5 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 5 * cs)), wv, a5);
                        a6 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 6 * cs)), wv, a6);
                        a7 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 7 * cs)), wv, a7);
                        a8 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 8 * cs)), wv, a8);
                        a9 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 9 * cs)), wv, a9);
                        a10 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 10 * cs)), wv, a10);
                        a11 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 11 * cs)), wv, a11);
                        x = ref Unsafe.Add(ref x, 1);
                        w = ref Unsafe.Add(ref w, BlockChannels);
                    }
                }

                nint at = ((nint)(q + centre) * os) + cb;
                ref float o = ref Unsafe.Add(ref outRef, at);
                ref float p = ref Unsafe.Add(ref addRef, at);
                Store(ref o, ref p, 0, a0, accumulate, relu);
                Store(ref o, ref p, os, a1, accumulate, relu);
                Store(ref o, ref p, 2 * os, a2, accumulate, relu);
                Store(ref o, ref p, 3 * os, a3, accumulate, relu);
                Store(ref o, ref p, 4 * os, a4, accumulate, relu);
                Store(ref o, ref p, 5 * os, a5, accumulate, relu);
                Store(ref o, ref p, 6 * os, a6, accumulate, relu);
                Store(ref o, ref p, 7 * os, a7, accumulate, relu);
                Store(ref o, ref p, 8 * os, a8, accumulate, relu);
                Store(ref o, ref p, 9 * os, a9, accumulate, relu);
                Store(ref o, ref p, 10 * os, a10, accumulate, relu);
                Store(ref o, ref p, 11 * os, a11, accumulate, relu);
            }
        }
    }

    // The 512-bit kernel for an even number of 16-channel output blocks: 7 pixels × 32 output channels, fourteen
    // accumulators (two weight loads and seven broadcasts per fourteen multiply-adds).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PairKernel<TStride>(in KernelArgs a, in Operands operands)
        where TStride : struct, IStride
    {
        int cs = TStride.IsConstant ? TStride.Value : a.InputStride;
        int taps = operands.Taps;
        int centre = operands.Centre;
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float wRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(operands.Weights), operands.Offset);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(operands.Bias);
        ref float addRef = ref a.Addend is null ? ref outRef : ref MemoryMarshal.GetArrayDataReference(a.Addend);
        bool accumulate = a.Accumulate, relu = a.Relu;
        int os = a.OutputStride;
        for (int cb = 0; cb < PaddedOutChannels; cb += 2 * BlockChannels)
        {
            var c = Vector512.LoadUnsafe(ref bRef, (nuint)cb);
            var d = Vector512.LoadUnsafe(ref bRef, (nuint)(cb + BlockChannels));
            ref float lowWeights = ref Unsafe.Add(ref wRef, (nint)cb * taps * cs);
            ref float highWeights = ref Unsafe.Add(ref wRef, (nint)(cb + BlockChannels) * taps * cs);
            for (int q = a.FirstPixel; q < a.EndPixel; q += PairPixels)
            {
                Vector512<float> a0 = c, a1 = c, a2 = c, a3 = c, a4 = c, a5 = c, a6 = c;
                Vector512<float> b0 = d, b1 = d, b2 = d, b3 = d, b4 = d, b5 = d, b6 = d;
                ref float w = ref lowWeights;
                ref float u = ref highWeights;
                for (int tap = 0; tap < taps; tap++)
                {
                    int shift = taps == 1 ? centre : ((tap / 3) * a.PaddedWidth) + (tap % 3);
                    ref float x = ref Unsafe.Add(ref inRef, (nint)(q + shift) * cs);
                    for (int i = 0; i < cs; i++)
                    {
                        var wv = Vector512.LoadUnsafe(ref w);
                        var uv = Vector512.LoadUnsafe(ref u);
                        var x0 = Vector512.Create(x);
                        a0 = Vector512.FusedMultiplyAdd(x0, wv, a0);
                        b0 = Vector512.FusedMultiplyAdd(x0, uv, b0);
                        var x1 = Vector512.Create(Unsafe.Add(ref x, cs));
                        a1 = Vector512.FusedMultiplyAdd(x1, wv, a1);
                        b1 = Vector512.FusedMultiplyAdd(x1, uv, b1);
                        var x2 = Vector512.Create(Unsafe.Add(ref x, 2 * cs));
                        a2 = Vector512.FusedMultiplyAdd(x2, wv, a2);
                        b2 = Vector512.FusedMultiplyAdd(x2, uv, b2);
                        var x3 = Vector512.Create(Unsafe.Add(ref x, 3 * cs));
                        a3 = Vector512.FusedMultiplyAdd(x3, wv, a3);
                        b3 = Vector512.FusedMultiplyAdd(x3, uv, b3);
                        var x4 = Vector512.Create(Unsafe.Add(ref x, 4 * cs));
                        a4 = Vector512.FusedMultiplyAdd(x4, wv, a4);
                        b4 = Vector512.FusedMultiplyAdd(x4, uv, b4);
                        var x5 = Vector512.Create(Unsafe.Add(ref x, 5 * cs));
                        a5 = Vector512.FusedMultiplyAdd(x5, wv, a5);
                        b5 = Vector512.FusedMultiplyAdd(x5, uv, b5);
                        var x6 = Vector512.Create(Unsafe.Add(ref x, 6 * cs));
                        a6 = Vector512.FusedMultiplyAdd(x6, wv, a6);
                        b6 = Vector512.FusedMultiplyAdd(x6, uv, b6);
                        x = ref Unsafe.Add(ref x, 1);
                        w = ref Unsafe.Add(ref w, BlockChannels);
                        u = ref Unsafe.Add(ref u, BlockChannels);
                    }
                }

                nint at = ((nint)(q + centre) * os) + cb;
                ref float o = ref Unsafe.Add(ref outRef, at);
                ref float p = ref Unsafe.Add(ref addRef, at);
                Store(ref o, ref p, 0, a0, accumulate, relu);
                Store(ref o, ref p, BlockChannels, b0, accumulate, relu);
                Store(ref o, ref p, os, a1, accumulate, relu);
                Store(ref o, ref p, os + BlockChannels, b1, accumulate, relu);
                Store(ref o, ref p, 2 * os, a2, accumulate, relu);
                Store(ref o, ref p, (2 * os) + BlockChannels, b2, accumulate, relu);
                Store(ref o, ref p, 3 * os, a3, accumulate, relu);
                Store(ref o, ref p, (3 * os) + BlockChannels, b3, accumulate, relu);
                Store(ref o, ref p, 4 * os, a4, accumulate, relu);
                Store(ref o, ref p, (4 * os) + BlockChannels, b4, accumulate, relu);
                Store(ref o, ref p, 5 * os, a5, accumulate, relu);
                Store(ref o, ref p, (5 * os) + BlockChannels, b5, accumulate, relu);
                Store(ref o, ref p, 6 * os, a6, accumulate, relu);
                Store(ref o, ref p, (6 * os) + BlockChannels, b6, accumulate, relu);
            }
        }
    }

    // The Winograd products M = V·U (one tap, no bias, addend or ReLU) in blocks of 8 tiles × 32 output channels, sixteen
    // 16-float accumulators: for tile counts nearer a multiple of 8 than of 7, where PairKernel's blocks would compute
    // stale tiles (16 tiles, a 14×14 image's 4×4 tiles: 16 computed against 21).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ProductKernel<TStride>(in KernelArgs a, float[] weights, int offset)
        where TStride : struct, IStride
    {
        int cs = TStride.IsConstant ? TStride.Value : a.InputStride;
        int os = a.OutputStride;
        ref float inRef = ref MemoryMarshal.GetArrayDataReference(a.Input);
        ref float outRef = ref MemoryMarshal.GetArrayDataReference(a.Output);
        ref float wRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(weights), offset);
        for (int cb = 0; cb < PaddedOutChannels; cb += 2 * BlockChannels)
        {
            ref float lowWeights = ref Unsafe.Add(ref wRef, (nint)cb * cs);
            ref float highWeights = ref Unsafe.Add(ref wRef, (nint)(cb + BlockChannels) * cs);
            for (int q = a.FirstPixel; q < a.EndPixel; q += ProductPixels)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
                ref float w = ref lowWeights;
                ref float u = ref highWeights;
                ref float x = ref Unsafe.Add(ref inRef, (nint)q * cs);
                for (int i = 0; i < cs; i++)
                {
                    var wv = Vector512.LoadUnsafe(ref w);
                    var uv = Vector512.LoadUnsafe(ref u);
                    var x0 = Vector512.Create(x);
                    a0 = Vector512.FusedMultiplyAdd(x0, wv, a0);
                    b0 = Vector512.FusedMultiplyAdd(x0, uv, b0);
                    var x1 = Vector512.Create(Unsafe.Add(ref x, cs));
                    a1 = Vector512.FusedMultiplyAdd(x1, wv, a1);
                    b1 = Vector512.FusedMultiplyAdd(x1, uv, b1);
                    var x2 = Vector512.Create(Unsafe.Add(ref x, 2 * cs));
                    a2 = Vector512.FusedMultiplyAdd(x2, wv, a2);
                    b2 = Vector512.FusedMultiplyAdd(x2, uv, b2);
                    var x3 = Vector512.Create(Unsafe.Add(ref x, 3 * cs));
                    a3 = Vector512.FusedMultiplyAdd(x3, wv, a3);
                    b3 = Vector512.FusedMultiplyAdd(x3, uv, b3);
                    var x4 = Vector512.Create(Unsafe.Add(ref x, 4 * cs));
                    a4 = Vector512.FusedMultiplyAdd(x4, wv, a4);
                    b4 = Vector512.FusedMultiplyAdd(x4, uv, b4);
                    var x5 = Vector512.Create(Unsafe.Add(ref x, 5 * cs));
                    a5 = Vector512.FusedMultiplyAdd(x5, wv, a5);
                    b5 = Vector512.FusedMultiplyAdd(x5, uv, b5);
                    var x6 = Vector512.Create(Unsafe.Add(ref x, 6 * cs));
                    a6 = Vector512.FusedMultiplyAdd(x6, wv, a6);
                    b6 = Vector512.FusedMultiplyAdd(x6, uv, b6);
                    var x7 = Vector512.Create(Unsafe.Add(ref x, 7 * cs));
                    a7 = Vector512.FusedMultiplyAdd(x7, wv, a7);
                    b7 = Vector512.FusedMultiplyAdd(x7, uv, b7);
                    x = ref Unsafe.Add(ref x, 1);
                    w = ref Unsafe.Add(ref w, BlockChannels);
                    u = ref Unsafe.Add(ref u, BlockChannels);
                }

                ref float o = ref Unsafe.Add(ref outRef, ((nint)q * os) + cb);
                StorePair(ref o, 0, a0, b0);
                StorePair(ref o, os, a1, b1);
                StorePair(ref o, 2 * os, a2, b2);
                StorePair(ref o, 3 * os, a3, b3);
                StorePair(ref o, 4 * os, a4, b4);
                StorePair(ref o, 5 * os, a5, b5);
                StorePair(ref o, 6 * os, a6, b6);
                StorePair(ref o, 7 * os, a7, b7);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePair(ref float o, int offset, Vector512<float> low, Vector512<float> high)
    {
        low.StoreUnsafe(ref o, (nuint)offset);
        high.StoreUnsafe(ref o, (nuint)(offset + BlockChannels));
    }

    // What a direct kernel multiplies with: weights packed per block of 16 output channels as [tap][input channel][16]
    // from Offset on, a bias per (padded) output channel, the taps (1 or 9) and the offset in pixels from a block's first
    // input pixel to its first output pixel (the centre tap's). The convolution's own, or one Winograd product's.
    private readonly record struct Operands(float[] Weights, int Offset, float[] Bias, int Taps, int Centre);

    // Stores one pixel's 16 sums: plus the addend's values at the same place when accumulating, then ReLU when asked.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float o, ref float addend, int offset, Vector512<float> sum, bool accumulate, bool relu)
    {
        if (accumulate)
        {
            sum += Vector512.LoadUnsafe(ref addend, (nuint)offset);
        }

        if (relu)
        {
            sum = Vector512.Max(sum, Vector512<float>.Zero);
        }

        sum.StoreUnsafe(ref o, (nuint)offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float o, ref float addend, int offset, Vector256<float> low, Vector256<float> high, bool accumulate, bool relu)
    {
        if (accumulate)
        {
            low += Vector256.LoadUnsafe(ref addend, (nuint)offset);
            high += Vector256.LoadUnsafe(ref addend, (nuint)(offset + 8));
        }

        if (relu)
        {
            low = Vector256.Max(low, Vector256<float>.Zero);
            high = Vector256.Max(high, Vector256<float>.Zero);
        }

        low.StoreUnsafe(ref o, (nuint)offset);
        high.StoreUnsafe(ref o, (nuint)(offset + 8));
    }

    // The input's channel stride, a constant the JIT folds into each instantiation's addressing, or the run-time value.
    private interface IStride
    {
        static abstract bool IsConstant { get; }

        static abstract int Value { get; }
    }

    private readonly struct Stride16 : IStride
    {
        public static bool IsConstant => true;

        public static int Value => 16;
    }

    private readonly struct Stride32 : IStride
    {
        public static bool IsConstant => true;

        public static int Value => 32;
    }

    private readonly struct Stride64 : IStride
    {
        public static bool IsConstant => true;

        public static int Value => 64;
    }

    private readonly struct Stride128 : IStride
    {
        public static bool IsConstant => true;

        public static int Value => 128;
    }

    private readonly struct RuntimeStride : IStride
    {
        public static bool IsConstant => false;

        public static int Value => 0;
    }
}
