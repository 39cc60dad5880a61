using FlowOod.Benchmarks;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Benchmarks;

// The benchmark's convolution ceiling: the FLOP count of a known case and a tiny measurement in both dtypes and layouts.
public sealed class ConvCeilingTests
{
    [Fact]
    public void ForwardFlops_ThreeByThreeConvolution_CountsMultiplyAndAdd()
    {
        // 2 · N · C_out · H · W · C_in · k² = 2 · 64 · 32 · 28 · 28 · 32 · 9 = 924,844,032.
        ConvCeiling.ForwardFlops(64, 32, 32, 28, 28, 3).Should().Be(924_844_032);
    }

    [Theory]
    [InlineData(ScalarType.Float32, false)]
    [InlineData(ScalarType.BFloat16, true)]
    public void Measure_TinyConvolution_GivesAPositiveRate(ScalarType dtype, bool backward)
    {
        FlowOodRuntime.EnsureAvailable();

        var measured = ConvCeiling.Measure(2, 4, 6, dtype, backward, calls: 2);

        measured.Dtype.Should().Be(dtype);
        measured.Shape.Should().Be("[2,4,6,6] 3x3 4->4");
        measured.SecondsPerCall.Should().BePositive();
        measured.GflopPerSecond.Should().BePositive().And.BeLessThan(1e6);
    }

    [Theory]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.BFloat16, false)]
    public void Measure_ChannelsLast_GivesAPositiveRateAndSaysSo(ScalarType dtype, bool backward)
    {
        FlowOodRuntime.EnsureAvailable();

        var measured = ConvCeiling.Measure(new ConvShape(2, 4, 4, 6, 6, 3), dtype, backward, calls: 2, channelsLast: true);

        measured.ChannelsLast.Should().BeTrue();
        measured.Backward.Should().Be(backward);
        measured.GflopPerSecond.Should().BePositive().And.BeLessThan(1e6);
    }
}
