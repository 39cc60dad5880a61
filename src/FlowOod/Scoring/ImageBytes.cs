using System;

namespace FlowOod.Scoring;

/// <summary>Argument checks shared by the <see cref="ICompressor"/> implementations.</summary>
internal static class ImageBytes
{
    /// <summary>Throws an <see cref="ArgumentException"/> unless the sizes are positive and match the pixel count.</summary>
    public static void Validate(ReadOnlySpan<byte> pixels, int channels, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        var expected = (long)channels * height * width;
        if (pixels.Length != expected)
        {
            throw new ArgumentException(
                $"Expected {channels}×{height}×{width} = {expected} pixel bytes (channel-planar), got {pixels.Length}.", nameof(pixels));
        }
    }
}
