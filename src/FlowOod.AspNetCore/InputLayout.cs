using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace FlowOod.AspNetCore;

/// <summary>The gate's input shape as the request parsers see it: its length and, for images, C, H and W.</summary>
internal sealed class InputLayout
{
    public InputLayout(IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count == 0 || shape.Any(d => d < 1))
        {
            throw new ArgumentException($"The gate's input shape [{string.Join(", ", shape)}] is not a shape of positive sizes.", nameof(shape));
        }

        Shape = shape.ToArray();
        long length = 1;
        foreach (long d in shape)
        {
            length = checked(length * d);
        }

        if (length > 1 << 26)
        {
            throw new ArgumentException($"The gate's input has {length} values, more than this package serves (2^26).", nameof(shape));
        }

        Length = (int)length;
        (Channels, Height, Width) = shape.Count switch
        {
            3 => ((int)shape[0], (int)shape[1], (int)shape[2]),
            2 => (1, (int)shape[0], (int)shape[1]),
            _ => (0, 0, 0),
        };
    }

    public IReadOnlyList<long> Shape { get; }

    /// <summary>prod(Shape): values per input.</summary>
    public int Length { get; }

    /// <summary>True when the shape is [C, H, W] or [H, W], so images (PNG) can be decoded into it.</summary>
    public bool IsImage => Channels > 0;

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    public string Describe() => "[" + string.Join(", ", Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
}
