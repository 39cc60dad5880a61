using FlowOod.Layers;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Precision;

// FrozenConv.AccumulateInto, the skip taps' sum in the folded ResNet: a 1×1 tap on channels-last tensors accumulates
// through one matrix product (addmm_) instead of a convolution and an addition; every other case takes the convolution.
// Either way the result must be accumulator + conv(input).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FrozenConvAccumulateTests
{
    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 0.05)]
    public void OneByOneTap_OnChannelsLast_AccumulatesTheConvolutionByAMatrixProduct(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var weight = randn([6, 5, 1, 1], generator: generator);
        using var tap = new FrozenConv(weight, null, [1, 1], [0, 0], dtype);
        var input = ConvLayout.ChannelsLast(randn([3, 5, 4, 7], generator: generator).to(dtype));
        var accumulator = ConvLayout.ChannelsLast(randn([3, 6, 4, 7], generator: generator).to(dtype));
        var expected = accumulator.to(ScalarType.Float32).Plus(nn.functional.conv2d(input.to(ScalarType.Float32), weight));

        tap.AccumulatesByProduct(accumulator, input).Should().BeTrue("a bias-free 1×1 tap on channels-last tensors is a matrix product");
        var result = tap.AccumulateInto(accumulator, input);

        result.Handle.Should().Be(accumulator.Handle, "it accumulates in place");
        result.dtype.Should().Be(dtype);
        result.to(ScalarType.Float32).sub(expected).abs().max().ReadDouble().Should().BeLessThan(tolerance);
        expected.abs().max().ReadDouble().Should().BeGreaterThan(1, "the values are not all tiny");
    }

    [Fact]
    public void Tap_OnNchwTensorsOrWithBiasOrPadding_TakesTheConvolutionAndGivesTheSameSum()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(8);
        var weight = randn([6, 5, 1, 1], generator: generator);
        var wide = randn([6, 5, 3, 3], generator: generator);
        var bias = randn([6], generator: generator);
        using var plain = new FrozenConv(weight, null, [1, 1], [0, 0], ScalarType.Float32);
        using var biased = new FrozenConv(weight, bias, [1, 1], [0, 0], ScalarType.Float32);
        using var padded = new FrozenConv(wide, null, [1, 1], [1, 1], ScalarType.Float32);
        var nchwInput = randn([2, 5, 4, 4], generator: generator);
        var start = randn([2, 6, 4, 4], generator: generator);
        var channelsLast = ConvLayout.ChannelsLast(nchwInput);

        plain.AccumulatesByProduct(start, nchwInput).Should().BeFalse("NCHW tensors have no [N·H·W, C] view");
        biased.AccumulatesByProduct(ConvLayout.ChannelsLast(start), channelsLast).Should().BeFalse("the product path adds no bias");
        padded.AccumulatesByProduct(ConvLayout.ChannelsLast(start), channelsLast).Should().BeFalse("a 3×3 padded conv is no per-pixel product");

        plain.AccumulateInto(start.clone(), nchwInput).sub(start.Plus(nn.functional.conv2d(nchwInput, weight))).abs().max().ReadDouble().Should().BeLessThan(1e-5);
        biased.AccumulateInto(start.clone(), channelsLast).sub(start.Plus(nn.functional.conv2d(nchwInput, weight, bias))).abs().max().ReadDouble().Should().BeLessThan(1e-5);
        padded.AccumulateInto(start.clone(), nchwInput).sub(start.Plus(nn.functional.conv2d(nchwInput, wide, padding: [1, 1]))).abs().max().ReadDouble().Should().BeLessThan(1e-5);
    }
}
