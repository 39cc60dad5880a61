using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod;

/// <summary>
/// Tensor arithmetic with numbers that never hands native code a <see cref="Scalar"/> the finalizer can free during the
/// call. Library code uses these instead of TorchSharp's number overloads, operators and <c>add(Tensor)</c>.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns a number into a temporary <see cref="Scalar"/> (and <c>a.add(b)</c> into <c>a.add(b, 1)</c>)
/// and passes only the native handle to libtorch; nothing keeps the managed object reachable during the native call, so
/// under garbage-collection pressure its finalizer can free the <c>at::Scalar</c> while libtorch reads it: c10 throws
/// "Expected false to be true" from <c>Scalar::toFloat</c>, reads another value, or the process dies. Every
/// <see cref="Scalar"/> here is either a cached constant, rooted by a static field for the life of the process, or created
/// with <c>using</c> in the method that passes it, which keeps it reachable until after the native call. The rule and
/// its guard (<c>ScalarLifetimeTests</c>, an IL scan of every FlowOod assembly) are written down in docs/design.md.
/// </remarks>
internal static class ScalarMath
{
    /// <summary>The integer 1: the <c>alpha</c> of <c>add</c> for every dtype, and a counter's step.</summary>
    public static readonly Scalar One = 1L.ToScalar();

    /// <summary>The integer 2: the exponent of <see cref="Squared"/> (as <c>Tensor.square()</c> uses).</summary>
    public static readonly Scalar Two = 2L.ToScalar();

    /// <summary>The integer 0, for comparisons.</summary>
    public static readonly Scalar Zero = 0L.ToScalar();

    /// <summary>One half, for thresholds between 0 and 1.</summary>
    public static readonly Scalar Half = 0.5.ToScalar();

    /// <summary>The boolean <see langword="true"/>, for filling flags.</summary>
    public static readonly Scalar True = true.ToScalar();

    /// <summary><c>a + b</c>, broadcast.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a += b</c> in place; returns <paramref name="a"/>.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary><c>a + value</c>.</summary>
    public static Tensor Plus(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.add(scalar, One);
    }

    /// <summary><c>a += value</c> in place; returns <paramref name="a"/>.</summary>
    public static Tensor PlusInPlace(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.add_(scalar, One);
    }

    /// <summary><c>a − value</c>.</summary>
    public static Tensor Minus(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.sub(scalar);
    }

    /// <summary><c>a − value</c> in place; returns <paramref name="a"/>.</summary>
    public static Tensor MinusInPlace(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.sub_(scalar);
    }

    /// <summary><c>a · value</c>.</summary>
    public static Tensor Times(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.mul(scalar);
    }

    /// <summary><c>a · value</c> in place; returns <paramref name="a"/>.</summary>
    public static Tensor TimesInPlace(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.mul_(scalar);
    }

    /// <summary><c>a / value</c>.</summary>
    public static Tensor DividedBy(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.div(scalar);
    }

    /// <summary><c>a / value</c> in place; returns <paramref name="a"/>.</summary>
    public static Tensor DivideInPlace(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.div_(scalar);
    }

    /// <summary>Whether each entry of <paramref name="a"/> is below <paramref name="value"/>: a new bool tensor.</summary>
    public static Tensor LessThan(this Tensor a, double value)
    {
        using var scalar = value.ToScalar();
        return a.lt(scalar);
    }

    /// <summary><c>a²</c> element-wise, the same kernel as <c>Tensor.square()</c>.</summary>
    public static Tensor Squared(this Tensor a) => a.pow(Two);

    /// <summary>Clamps <paramref name="a"/> to [<paramref name="min"/>, <paramref name="max"/>] in place; returns it.</summary>
    public static Tensor ClampInPlace(this Tensor a, double min, double max)
    {
        using var low = min.ToScalar();
        using var high = max.ToScalar();
        return a.clamp_(low, high);
    }

    /// <summary>Clamps <paramref name="a"/> to at most <paramref name="max"/> in place; returns it.</summary>
    public static Tensor ClampMaxInPlace(this Tensor a, double max)
    {
        using var high = max.ToScalar();
        return a.clamp_max_(high);
    }

    /// <summary>A new tensor of <paramref name="like"/>'s shape, dtype and device, every entry <paramref name="value"/>.</summary>
    public static Tensor FullLike(this Tensor like, double value)
    {
        using var scalar = value.ToScalar();
        return full_like(like, scalar);
    }

    /// <summary>A new <c>[length]</c> tensor of <paramref name="dtype"/> on <paramref name="device"/>, every entry <paramref name="value"/>.</summary>
    public static Tensor Full(long length, double value, ScalarType dtype, Device device)
    {
        using var scalar = value.ToScalar();
        return full(length, scalar, dtype: dtype, device: device);
    }

    /// <summary>
    /// The value of a one-element tensor of any dtype (TorchSharp's <c>ToDouble()</c> reads it through a temporary
    /// <see cref="Scalar"/>; freed by the finalizer during the read, it aborts the process).
    /// </summary>
    public static double ReadDouble(this Tensor a)
    {
        using var scalar = a.ToScalar();
        return scalar.ToDouble();
    }

    /// <summary>The value of a one-element integer tensor (see <see cref="ReadDouble"/>).</summary>
    public static long ReadInt64(this Tensor a)
    {
        using var scalar = a.ToScalar();
        return scalar.ToInt64();
    }

    /// <summary>The value of a one-element bool tensor (see <see cref="ReadDouble"/>).</summary>
    public static bool ReadBoolean(this Tensor a)
    {
        using var scalar = a.ToScalar();
        return scalar.ToBoolean();
    }

    /// <summary>Leaky ReLU with the given negative slope (TorchSharp's <c>double</c> overload makes a temporary).</summary>
    public static Tensor LeakyRelu(this Tensor a, double negativeSlope)
    {
        using var slope = negativeSlope.ToScalar();
        return a.leaky_relu(slope);
    }
}
