using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using FlowOod.Components;

namespace FlowOod.Scoring;

/// <summary>
/// A minimal, deterministic PNG encoder (8-bit, non-interlaced) used as the complexity estimate of Serrà et al. (2020):
/// L(x) = 8 × the length in bytes of the whole PNG file, signature and chunk headers included (as with the file lengths
/// of common PNG libraries at their highest compression level).
/// </summary>
/// <remarks>
/// <para>The file is the PNG signature, an IHDR chunk (bit depth 8; colour type greyscale for 1 channel, greyscale with
/// alpha for 2, RGB for 3, RGBA for 4; the 2nd/4th channel is stored losslessly as alpha), a single IDAT chunk and
/// IEND, each chunk with its CRC-32. IDAT holds the zlib stream (<see cref="ZLibStream"/> at
/// <see cref="CompressionLevel.SmallestSize"/>) of the filtered scanlines.</para>
/// <para>Row filters: every scanline takes the filter type (None, Sub, Up, Average or Paeth) whose output has the
/// smallest sum of absolute values when read as signed bytes — the adaptive heuristic the PNG specification recommends
/// (ties go to the lower filter type).</para>
/// <para>Input pixels are channel-planar (see <see cref="ICompressor"/>); PNG stores them interleaved.</para>
/// </remarks>
[ComponentName("PNG")]
public sealed class PngCompressor : ICompressor, IComponent<PngCompressor>
{
    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
    }

    /// <summary>Reads the stored compressor (it has no settings; stored as the string <c>"PNG"</c>).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>A new compressor.</returns>
    public static PngCompressor Read(ComponentReader reader) => new();

    private const int FilterTypes = 5;
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <inheritdoc/>
    public string Name => "PNG";

    /// <inheritdoc/>
    /// <remarks>Supports 1 to 4 channels.</remarks>
    public long CompressedBits(ReadOnlySpan<byte> pixels, int channels, int height, int width) =>
        8L * Encode(pixels, channels, height, width).Length;

    /// <summary>Encodes one 8-bit image as a PNG file.</summary>
    /// <param name="pixels">The image, channel-planar (see <see cref="ICompressor"/>), length C·H·W.</param>
    /// <param name="channels">C, 1 (greyscale), 2 (greyscale + alpha), 3 (RGB) or 4 (RGBA).</param>
    /// <param name="height">H ≥ 1.</param>
    /// <param name="width">W ≥ 1.</param>
    /// <returns>The bytes of a valid PNG file; the same image always gives the same bytes.</returns>
    /// <exception cref="ArgumentException">The sizes are not positive, do not match the pixel count, or C is not 1–4.</exception>
    public byte[] Encode(ReadOnlySpan<byte> pixels, int channels, int height, int width)
    {
        ImageBytes.Validate(pixels, channels, height, width);
        byte colourType = channels switch
        {
            1 => 0,
            2 => 4,
            3 => 2,
            4 => 6,
            _ => throw new ArgumentException($"PNG stores 1 to 4 channels per pixel, got {channels}.", nameof(channels)),
        };

        using var file = new MemoryStream();
        file.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;           // bit depth
        header[9] = colourType;
        header[10] = 0;          // compression method: zlib deflate
        header[11] = 0;          // filter method: adaptive, five basic types
        header[12] = 0;          // no interlace
        WriteChunk(file, "IHDR"u8, header);

        WriteChunk(file, "IDAT"u8, CompressScanlines(pixels, channels, height, width));
        WriteChunk(file, "IEND"u8, []);
        return file.ToArray();
    }

    private static byte[] CompressScanlines(ReadOnlySpan<byte> pixels, int channels, int height, int width)
    {
        var rowBytes = checked(channels * width);
        var previous = new byte[rowBytes];   // the row above the first is all zeros
        var current = new byte[rowBytes];
        var candidates = new byte[FilterTypes][];
        for (int f = 0; f < FilterTypes; f++)
        {
            candidates[f] = new byte[rowBytes];
        }

        var plane = height * width;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    for (int c = 0; c < channels; c++)
                    {
                        current[(x * channels) + c] = pixels[(c * plane) + (y * width) + x];
                    }
                }

                var best = FilterRow(current, previous, channels, candidates);
                zlib.WriteByte((byte)best);
                zlib.Write(candidates[best]);
                (previous, current) = (current, previous);
            }
        }

        return compressed.ToArray();
    }

    // Fills candidates[f] with the row filtered by type f and returns the type with the smallest sum of |signed byte|.
    private static int FilterRow(byte[] row, byte[] above, int bytesPerPixel, byte[][] candidates)
    {
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bytesPerPixel ? row[i - bytesPerPixel] : 0;
            int b = above[i];
            int c = i >= bytesPerPixel ? above[i - bytesPerPixel] : 0;
            int value = row[i];
            candidates[0][i] = (byte)value;
            candidates[1][i] = (byte)(value - a);
            candidates[2][i] = (byte)(value - b);
            candidates[3][i] = (byte)(value - ((a + b) >> 1));
            candidates[4][i] = (byte)(value - Paeth(a, b, c));
        }

        int best = 0;
        long bestCost = long.MaxValue;
        for (int f = 0; f < FilterTypes; f++)
        {
            long cost = 0;
            foreach (var v in candidates[f])
            {
                cost += v < 128 ? v : 256 - v;
            }

            if (cost < bestCost)
            {
                bestCost = cost;
                best = f;
            }
        }

        return best;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a);
        int pb = Math.Abs(p - b);
        int pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc)
        {
            return a;
        }

        return pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream file, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        file.Write(word);
        file.Write(type);
        file.Write(data);
        var crc = new System.IO.Hashing.Crc32(); // ISO 3309 / ITU-T V.42, as the PNG specification defines it
        crc.Append(type);
        crc.Append(data);
        var value = crc.GetCurrentHashAsUInt32();
        BinaryPrimitives.WriteUInt32BigEndian(word, value);
        file.Write(word);
    }
}
