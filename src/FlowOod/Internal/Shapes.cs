using System;
using System.Linq;

namespace FlowOod;

/// <summary>Formatting and checking helpers for tensor shapes, used in exception messages.</summary>
internal static class Shapes
{
    /// <summary>Formats a shape as <c>[64, 1, 28, 28]</c>.</summary>
    public static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>The product of the dimensions, with overflow checking.</summary>
    public static long Product(ReadOnlySpan<long> shape)
    {
        long product = 1;
        foreach (var d in shape)
        {
            product = checked(product * d);
        }

        return product;
    }

    /// <summary>Whether the non-batch dimensions of <paramref name="shape"/> equal <paramref name="eventShape"/>.</summary>
    public static bool EventMatches(ReadOnlySpan<long> shape, ReadOnlySpan<long> eventShape) =>
        shape.Length == eventShape.Length + 1 && shape[1..].SequenceEqual(eventShape);

    /// <summary>Copies and validates an event shape (every dimension positive).</summary>
    public static long[] CheckEventShape(long[] eventShape, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(eventShape, parameterName);
        if (eventShape.Length == 0 || eventShape.Any(d => d <= 0))
        {
            throw new ArgumentException($"An event shape needs at least one dimension, all positive; got {Format(eventShape)}.", parameterName);
        }

        return (long[])eventShape.Clone();
    }
}
