using System;
using System.Linq;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Runtime;

// bf16 as raw bits in managed code: rounding as libtorch rounds, exact widening, a dot product over widened weights.
public sealed class BFloat16BitsTests
{
    [Fact]
    public void Round_IsLibTorchsConversion_ForTiesNormalsAndSpecialValues()
    {
        var random = new Random(1);
        var values = Enumerable.Range(0, 20_000).Select(_ => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)))
            .Where(v => !float.IsNaN(v) && !float.IsSubnormal(v)) // a native bf16 conversion instruction may flush subnormals
            .Concat(new[]
            {
                0f, -0f, 1f, -1f, float.MaxValue, float.MinValue, float.PositiveInfinity,
                float.NegativeInfinity,
                BitConverter.UInt32BitsToSingle(0x3F808000u), // halfway between 1 (even) and 1 + 2⁻⁷: down to 1
                BitConverter.UInt32BitsToSingle(0x3F818000u), // halfway between 1 + 2⁻⁷ (odd) and 1 + 2·2⁻⁷: up
                BitConverter.UInt32BitsToSingle(0x3F807FFFu), // just under halfway: down
                BitConverter.UInt32BitsToSingle(0x7F7F8000u), // halfway to the next binade above bf16's largest finite: ∞
            })
            .ToArray();

        float[] expected;
        using (var scope = NewDisposeScope())
        {
            expected = tensor(values).to(ScalarType.BFloat16).to(ScalarType.Float32).data<float>().ToArray();
        }

        for (int i = 0; i < values.Length; i++)
        {
            BitConverter.SingleToUInt32Bits(BFloat16Bits.Round(values[i])).Should().Be(
                BitConverter.SingleToUInt32Bits(expected[i]), $"value {values[i]:R} (bits 0x{BitConverter.SingleToUInt32Bits(values[i]):X8})");
        }

        float.IsNaN(BFloat16Bits.Round(float.NaN)).Should().BeTrue();
        var span = new[] { 1.00390625f, -3.0001f };
        BFloat16Bits.RoundInPlace(span);
        span.Should().Equal(BFloat16Bits.Round(1.00390625f), BFloat16Bits.Round(-3.0001f));
    }

    [Fact]
    public void Widen_IsExact_AndDotSumsTheWidenedProducts_ForEveryLength()
    {
        BFloat16Bits.Widen(0x3F80).Should().Be(1f);
        BFloat16Bits.Widen(0xC040).Should().Be(-3f);
        var random = new Random(2);
        for (int length = 0; length <= 70; length++)
        {
            // Multiples of 2⁻⁴ below 4 in a and bf16 values with 4 significant bits in b: every product and sum is exact in float32.
            var a = Enumerable.Range(0, length).Select(_ => random.Next(-64, 64) / 16f).ToArray();
            var b = Enumerable.Range(0, length).Select(_ => (ushort)(BitConverter.SingleToUInt32Bits(random.Next(-16, 16) / 8f) >> 16)).ToArray();
            var expected = a.Select((x, i) => (double)x * BFloat16Bits.Widen(b[i])).Sum();

            BFloat16Bits.Dot(a, b).Should().Be((float)expected, $"length {length}");
        }

        var act = () => BFloat16Bits.Dot(new float[3], new ushort[2]);
        act.Should().Throw<ArgumentException>().WithParameterName("b");
    }
}
