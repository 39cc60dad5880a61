using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests;

// Reads the test code needs that FlowOod's ScalarMath does not offer, in the same form: the Scalar is made with `using`,
// so the finalizer cannot free it while native code reads it (docs/design.md, "Scalars").
internal static class TestScalars
{
    /// <summary>The value of a one-element tensor as a float (TorchSharp's <c>ToSingle()</c> reads a temporary Scalar).</summary>
    public static float ReadSingle(this Tensor a)
    {
        using var scalar = a.ToScalar();
        return scalar.ToSingle();
    }

    /// <summary>
    /// <c>full(shape, value)</c>: a new tensor of <paramref name="shape"/>, every entry <paramref name="value"/>, of
    /// <paramref name="dtype"/> or (like TorchSharp's number overloads for a floating-point value) the default dtype.
    /// </summary>
    public static Tensor Full(long[] shape, double value, ScalarType? dtype = null)
    {
        using var scalar = value.ToScalar();
        return full(shape, scalar, dtype);
    }

    /// <summary>
    /// <c>arange(start, stop, step)</c> with integer bounds, as TorchSharp's number overloads compute it (they make
    /// temporaries for the bounds and, in the shorter forms, for the missing start and step).
    /// </summary>
    public static Tensor Arange(long start, long stop, long step = 1, ScalarType? dtype = null)
    {
        using var first = start.ToScalar();
        using var end = stop.ToScalar();
        using var increment = step.ToScalar();
        return arange(first, end, increment, dtype);
    }
}
