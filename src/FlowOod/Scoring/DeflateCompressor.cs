using System;
using System.IO;
using System.IO.Compression;
using FlowOod.Components;

namespace FlowOod.Scoring;

/// <summary>
/// Raw DEFLATE (RFC 1951, no zlib or gzip container) of the image's channel-planar bytes at
/// <see cref="CompressionLevel.SmallestSize"/>, without PNG's row filters. Deterministic.
/// </summary>
/// <remarks>
/// A plainer complexity estimate than <see cref="PngCompressor"/>: no prediction between neighbouring pixels, no
/// header. L(x) = 8 × the number of compressed bytes.
/// </remarks>
[ComponentName("Deflate")]
public sealed class DeflateCompressor : ICompressor, IComponent<DeflateCompressor>
{
    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
    }

    /// <summary>Reads the stored compressor (it has no settings; stored as the string <c>"Deflate"</c>).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>A new compressor.</returns>
    public static DeflateCompressor Read(ComponentReader reader) => new();

    /// <inheritdoc/>
    public string Name => "Deflate";

    /// <inheritdoc/>
    public long CompressedBits(ReadOnlySpan<byte> pixels, int channels, int height, int width)
    {
        ImageBytes.Validate(pixels, channels, height, width);
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            deflate.Write(pixels);
        }

        return 8 * output.Length;
    }
}
