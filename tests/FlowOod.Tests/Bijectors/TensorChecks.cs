using System;
using System.Linq;
using FlowOod.Bijectors;
using FluentAssertions;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

internal static class TensorChecks
{
    public static void ShouldBeCloseTo(this Tensor actual, Tensor expected, double relative, double absolute, string what)
    {
        actual.shape.Should().Equal(expected.shape, $"{what}: shapes must match");
        using var scope = NewDisposeScope();
        if (!actual.allclose(expected, relative, absolute))
        {
            var maxDifference = actual.sub(expected).abs().max().ReadDouble();
            var maxExpected = expected.abs().max().ReadDouble();
            throw new Xunit.Sdk.XunitException(
                $"{what}: max |actual - expected| = {maxDifference:E3} (max |expected| = {maxExpected:E3}) exceeds "
                + $"{absolute:E1} + {relative:E1} * |expected|.");
        }
    }

    public static void ShouldBeAllFinite(this Tensor tensor, string what)
    {
        using var scope = NewDisposeScope();
        tensor.isfinite().all().ReadBoolean().Should().BeTrue($"{what} must be finite");
    }

    public static void ShouldEqualExactly(this Tensor actual, Tensor expected, string what)
    {
        actual.shape.Should().Equal(expected.shape, $"{what}: shapes must match");
        using var scope = NewDisposeScope();
        actual.dtype.Should().Be(ScalarType.Float64, $"{what}: bit-for-bit comparison runs on float64");
        expected.dtype.Should().Be(ScalarType.Float64, $"{what}: bit-for-bit comparison runs on float64");
        var actualBits = Bits(actual);
        var expectedBits = Bits(expected);
        var differing = actualBits.Zip(expectedBits).Count(p => p.First != p.Second);
        if (differing != 0 || !equal(actual, expected).all().ReadBoolean())
        {
            throw new Xunit.Sdk.XunitException($"{what}: {differing} of {actual.numel()} entries differ; expected bit-for-bit equality.");
        }
    }

    // The IEEE-754 bit patterns of a float64 tensor's entries, row-major.
    public static long[] Bits(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var contiguous = tensor.detach().cpu().contiguous();
        return contiguous.data<double>().ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();
    }

    public static long[] Batched(long n, long[] eventShape) => new[] { n }.Concat(eventShape).ToArray();
}
