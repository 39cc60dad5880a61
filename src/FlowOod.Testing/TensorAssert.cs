using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Testing;

/// <summary>Tensor comparisons that throw <see cref="ConformanceException"/> with the measured error.</summary>
internal static class TensorAssert
{
    public static void Close(Tensor actual, Tensor expected, double relative, double absolute, string what)
    {
        SameShape(actual, expected, what);
        using var scope = NewDisposeScope();
        if (!actual.allclose(expected, relative, absolute))
        {
            var maxDifference = actual.sub(expected).abs().max().ReadDouble();
            var maxExpected = expected.abs().max().ReadDouble();
            throw new ConformanceException(
                $"{what}: max |actual − expected| = {maxDifference:E3} (max |expected| = {maxExpected:E3}) exceeds "
                + $"{absolute:E1} + {relative:E1}·|expected|.");
        }
    }

    public static void Finite(Tensor tensor, string what)
    {
        using var scope = NewDisposeScope();
        if (!tensor.isfinite().all().ReadBoolean())
        {
            throw new ConformanceException($"{what} contains NaN or infinite values.");
        }
    }

    public static void Exactly(Tensor actual, Tensor expected, string what)
    {
        SameShape(actual, expected, what);
        var differing = Bits(actual).Zip(Bits(expected)).Count(p => p.First != p.Second);
        if (differing != 0)
        {
            throw new ConformanceException($"{what}: {differing} of {actual.numel()} entries differ; expected bit-for-bit equality.");
        }
    }

    public static void Shape(Tensor tensor, long[] expected, string what)
    {
        if (!tensor.shape.SequenceEqual(expected))
        {
            throw new ConformanceException($"{what} has shape {Format(tensor.shape)}, expected {Format(expected)}.");
        }
    }

    public static void That(bool condition, string message)
    {
        if (!condition)
        {
            throw new ConformanceException(message);
        }
    }

    public static long[] Batched(long n, long[] eventShape) => new[] { n }.Concat(eventShape).ToArray();

    public static string Format(long[] shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The IEEE-754 bit patterns of a tensor's entries (converted to float64), row-major.</summary>
    public static long[] Bits(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var contiguous = tensor.detach().cpu().to(ScalarType.Float64).contiguous();
        return contiguous.data<double>().ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();
    }

    private static void SameShape(Tensor actual, Tensor expected, string what)
    {
        if (!actual.shape.SequenceEqual(expected.shape))
        {
            throw new ConformanceException($"{what}: shape {Format(actual.shape)} differs from {Format(expected.shape)}.");
        }
    }
}
