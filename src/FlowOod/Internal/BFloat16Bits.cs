using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace FlowOod;

/// <summary>
/// bf16 values as raw bits in managed code: a bf16 value is the high 16 bits of a float32 (sign, 8 exponent bits, 7
/// mantissa bits), so widening is exact and narrowing is a rounding of the low 16 bits, to nearest with ties to even as
/// libtorch rounds (<c>c10::BFloat16</c>).
/// </summary>
internal static class BFloat16Bits
{
    /// <summary>The float32 of equal value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Widen(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary><paramref name="value"/> rounded to the nearest bf16 (ties to even), as a float32; NaN stays NaN, and
    /// values beyond bf16's largest finite one round to ±∞ as libtorch's conversion does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float value)
    {
        if (float.IsNaN(value))
        {
            return value;
        }

        var bits = BitConverter.SingleToUInt32Bits(value);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    /// <summary>Every value of <paramref name="values"/> replaced by <see cref="Round"/> of it.</summary>
    public static void RoundInPlace(Span<float> values)
    {
        foreach (ref var value in values)
        {
            value = Round(value);
        }
    }

    /// <summary>Σ a_i·b_i in float32, SIMD-wide, with <paramref name="b"/> bf16 bits widened exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<ushort> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"The spans differ in length ({a.Length} and {b.Length}).", nameof(b));
        }

        var lanes = Vector<float>.Zero;
        int i = 0;
        for (; i <= a.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
        {
            Vector.Widen(new Vector<ushort>(b[i..]), out var low, out var high);
            lanes += new Vector<float>(a[i..]) * Vector.AsVectorSingle(low << 16);
            lanes += new Vector<float>(a[(i + Vector<float>.Count)..]) * Vector.AsVectorSingle(high << 16);
        }

        var sum = Vector.Sum(lanes);
        for (; i < a.Length; i++)
        {
            sum += a[i] * Widen(b[i]);
        }

        return sum;
    }
}
