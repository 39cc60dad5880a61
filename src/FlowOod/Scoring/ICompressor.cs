using System;
using FlowOod.Components;

namespace FlowOod.Scoring;

/// <summary>
/// A lossless compressor of 8-bit images, used by <see cref="InputComplexityScorer"/> as the complexity estimate
/// L(x) of Serrà et al. (2020): the length in bits of the compressed image.
/// </summary>
/// <remarks>
/// Pixels are passed <b>channel-planar</b>, in the layout of a <c>[C, H, W]</c> tensor: index
/// c·H·W + y·W + x holds channel c of the pixel at row y, column x. Implementations must be deterministic (the same
/// image always gives the same length) and thread-safe, and may reject channel counts they cannot encode.
/// </remarks>
[ComponentKind("compressor")]
public interface ICompressor
{
    /// <summary>A short name for tables and logs, e.g. "PNG".</summary>
    string Name { get; }

    /// <summary>The compressed length of one 8-bit image in bits (8 × the number of bytes written).</summary>
    /// <param name="pixels">The image, channel-planar, length <paramref name="channels"/>·<paramref name="height"/>·<paramref name="width"/>.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 1.</param>
    /// <param name="width">W ≥ 1.</param>
    /// <returns>The length in bits, a positive multiple of 8.</returns>
    /// <exception cref="ArgumentException">The sizes are not positive, do not match the pixel count, or the channel
    /// count is not supported by this compressor.</exception>
    long CompressedBits(ReadOnlySpan<byte> pixels, int channels, int height, int width);
}
