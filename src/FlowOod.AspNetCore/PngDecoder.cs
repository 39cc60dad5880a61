using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;

namespace FlowOod.AspNetCore;

/// <summary>
/// A strict, bounded PNG decoder for request bodies: 8-bit greyscale, greyscale + alpha, RGB and RGBA, non-interlaced.
/// </summary>
/// <remarks>
/// <para>Checks the signature and every chunk's CRC-32; the first chunk must be IHDR and the last IEND. The declared
/// width and height must equal the gate's before anything is allocated (so a "PNG bomb" with a huge declared size is
/// refused from its 13 header bytes), and the zlib stream of the IDAT chunks is inflated into a buffer of exactly
/// H·(1 + W·channels) bytes: a stream that ends early, or holds even one byte more (an endless IDAT stream), is refused
/// after at most that many bytes. The five filter types (None, Sub, Up, Average, Paeth) are undone row by row.</para>
/// <para>Colour policy: the PNG's channels must match the gate's channel count C. A PNG with exactly C channels is used
/// as stored (alpha included, as <c>PngCompressor</c> writes 2- and 4-channel images); a PNG with an alpha channel and
/// C + 1 channels has its alpha dropped (the colour values are used as stored, not composited); anything else
/// (colour sent to a greyscale gate, greyscale to a colour gate) is refused with 415: converting colour would change the
/// distribution the gate was calibrated on. Palette images, bit depths other than 8 and interlaced images are refused
/// with 415; a damaged file with 400.</para>
/// </remarks>
internal static class PngDecoder
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Decodes a PNG into C·H·W bytes, channel-planar (all of channel 0 row-major, then channel 1, ...).</summary>
    /// <exception cref="BadInputException">400 for a damaged or mismatched file, 415 for an unsupported kind.</exception>
    public static byte[] Decode(ReadOnlyMemory<byte> file, int channels, int height, int width)
    {
        var data = file.Span;
        if (data.Length < Signature.Length || !data[..Signature.Length].SequenceEqual(Signature))
        {
            throw BadInputException.Malformed("The body is not a PNG file (its first 8 bytes are not the PNG signature).");
        }

        int offset = Signature.Length;
        var idat = new List<(int Offset, int Length)>();
        bool sawHeader = false, sawEnd = false, idatClosed = false;
        int pngChannels = 0;
        while (offset < data.Length && !sawEnd)
        {
            if (data.Length - offset < 12)
            {
                throw BadInputException.Malformed($"The PNG is truncated: {data.Length - offset} bytes at offset {offset} cannot hold a chunk.");
            }

            uint declared = BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);
            var type = data.Slice(offset + 4, 4);
            string typeName = ChunkName(type);
            if (declared > int.MaxValue || declared > (uint)(data.Length - offset - 12))
            {
                throw BadInputException.Malformed(
                    $"The PNG is truncated: chunk '{typeName}' at offset {offset} declares {declared} bytes, only {Math.Max(0, data.Length - offset - 12)} follow.");
            }

            int length = (int)declared;
            var body = data.Slice(offset + 8, length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(data[(offset + 8 + length)..]);
            if (System.IO.Hashing.Crc32.HashToUInt32(data.Slice(offset + 4, 4 + length)) != storedCrc) // over type and body
            {
                throw BadInputException.Malformed($"The PNG is corrupt: chunk '{typeName}' at offset {offset} fails its CRC-32 check.");
            }

            if (!sawHeader)
            {
                if (typeName != "IHDR")
                {
                    throw BadInputException.Malformed($"The PNG is invalid: its first chunk is '{typeName}', not IHDR.");
                }

                pngChannels = ReadHeader(body, channels, height, width);
                sawHeader = true;
            }
            else
            {
                switch (typeName)
                {
                    case "IHDR":
                        throw BadInputException.Malformed("The PNG is invalid: it has a second IHDR chunk.");
                    case "IDAT":
                        if (idatClosed)
                        {
                            throw BadInputException.Malformed("The PNG is invalid: its IDAT chunks are not consecutive.");
                        }

                        idat.Add((offset + 8, length));
                        break;
                    case "IEND":
                        sawEnd = true;
                        break;
                    case "PLTE":
                        break; // a suggested palette for a truecolour image; not needed to decode
                    default:
                        if ((type[0] & 0x20) == 0)
                        {
                            throw BadInputException.Unsupported($"The PNG has an unknown critical chunk '{typeName}'.");
                        }

                        break; // ancillary chunks (text, gamma, ...) are checked (CRC) and ignored
                }

                if (typeName != "IDAT" && idat.Count > 0)
                {
                    idatClosed = true;
                }
            }

            offset += 12 + length;
        }

        if (!sawHeader)
        {
            throw BadInputException.Malformed("The PNG is truncated: it ends before its IHDR chunk.");
        }

        if (idat.Count == 0)
        {
            throw BadInputException.Malformed("The PNG has no image data (no IDAT chunk).");
        }

        if (!sawEnd)
        {
            throw BadInputException.Malformed("The PNG is truncated: it has no IEND chunk.");
        }

        return Inflate(file, idat, pngChannels, channels, height, width);
    }

    private static int ReadHeader(ReadOnlySpan<byte> ihdr, int channels, int height, int width)
    {
        if (ihdr.Length != 13)
        {
            throw BadInputException.Malformed($"The PNG is invalid: IHDR holds {ihdr.Length} bytes, not 13.");
        }

        uint w = BinaryPrimitives.ReadUInt32BigEndian(ihdr);
        uint h = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        byte bitDepth = ihdr[8], colourType = ihdr[9], compression = ihdr[10], filter = ihdr[11], interlace = ihdr[12];
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
        {
            throw BadInputException.Malformed($"The PNG is invalid: IHDR declares {w}x{h} pixels.");
        }

        if (compression != 0 || filter != 0 || interlace > 1)
        {
            throw BadInputException.Malformed(
                $"The PNG is invalid: IHDR declares compression {compression}, filter method {filter}, interlace {interlace} (only 0, 0 and 0 or 1 exist).");
        }

        (int count, bool alpha, string kind) = colourType switch
        {
            0 => (1, false, "greyscale"),
            2 => (3, false, "RGB"),
            4 => (2, true, "greyscale + alpha"),
            6 => (4, true, "RGBA"),
            3 => throw BadInputException.Unsupported("Palette (indexed-colour) PNGs are not supported; send 8-bit greyscale, greyscale + alpha, RGB or RGBA."),
            _ => throw BadInputException.Malformed($"The PNG is invalid: IHDR declares colour type {colourType}."),
        };
        if (bitDepth != 8)
        {
            throw BadInputException.Unsupported($"PNG bit depth {bitDepth} is not supported; send 8 bits per sample.");
        }

        if (interlace == 1)
        {
            throw BadInputException.Unsupported("Interlaced (Adam7) PNGs are not supported; save the image without interlacing.");
        }

        if (w != (uint)width || h != (uint)height)
        {
            throw BadInputException.Malformed($"The image is {w}x{h} pixels (width x height); this gate takes {width}x{height}.");
        }

        if (count != channels && !(alpha && count - 1 == channels))
        {
            throw BadInputException.Unsupported(
                $"A {kind} PNG has {count} channel(s); this gate takes {channels} channel(s) per pixel. "
                + (channels == 1 ? "Send a greyscale PNG." : channels == 3 ? "Send an RGB or RGBA PNG." : $"Send a PNG with {channels} channel(s)."));
        }

        return count;
    }

    private static byte[] Inflate(ReadOnlyMemory<byte> file, List<(int Offset, int Length)> idat, int pngChannels, int channels, int height, int width)
    {
        int rowBytes = checked(width * pngChannels);
        int rawLength = checked(height * (rowBytes + 1));
        var raw = new byte[rawLength];
        try
        {
            using var zlib = new ZLibStream(new SegmentStream(file, idat), CompressionMode.Decompress);
            int read = 0;
            while (read < rawLength)
            {
                int n = zlib.Read(raw, read, rawLength - read);
                if (n == 0)
                {
                    throw BadInputException.Malformed($"The PNG is truncated: its image data inflates to {read} of the {rawLength} bytes a {width}x{height} image needs.");
                }

                read += n;
            }

            Span<byte> extra = stackalloc byte[1];
            if (zlib.Read(extra) != 0)
            {
                throw BadInputException.Malformed($"The PNG's image data inflates to more than the {rawLength} bytes a {width}x{height} image holds.");
            }
        }
        catch (InvalidDataException e)
        {
            throw BadInputException.Malformed($"The PNG's image data is not a valid zlib stream: {e.Message}");
        }

        var pixels = new byte[checked(channels * height * width)];
        var previous = new byte[rowBytes];
        var current = new byte[rowBytes];
        int plane = height * width;
        for (int y = 0; y < height; y++)
        {
            int start = y * (rowBytes + 1);
            Unfilter(raw[start], raw.AsSpan(start + 1, rowBytes), previous, current, pngChannels, y);
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < channels; c++)
                {
                    pixels[(c * plane) + (y * width) + x] = current[(x * pngChannels) + c];
                }
            }

            (previous, current) = (current, previous);
        }

        return pixels;
    }

    private static void Unfilter(byte filter, ReadOnlySpan<byte> line, Span<byte> previous, Span<byte> current, int bpp, int row)
    {
        switch (filter)
        {
            case 0:
                line.CopyTo(current);
                break;
            case 1:
                for (int i = 0; i < line.Length; i++)
                {
                    current[i] = (byte)(line[i] + (i >= bpp ? current[i - bpp] : 0));
                }

                break;
            case 2:
                for (int i = 0; i < line.Length; i++)
                {
                    current[i] = (byte)(line[i] + previous[i]);
                }

                break;
            case 3:
                for (int i = 0; i < line.Length; i++)
                {
                    int left = i >= bpp ? current[i - bpp] : 0;
                    current[i] = (byte)(line[i] + ((left + previous[i]) >> 1));
                }

                break;
            case 4:
                for (int i = 0; i < line.Length; i++)
                {
                    int a = i >= bpp ? current[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
                    current[i] = (byte)(line[i] + Paeth(a, b, c));
                }

                break;
            default:
                throw BadInputException.Malformed($"The PNG is corrupt: row {row} has filter type {filter} (only 0 to 4 exist).");
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> name = stackalloc char[4];
        for (int i = 0; i < 4; i++)
        {
            name[i] = type[i] is >= 0x20 and < 0x7F ? (char)type[i] : '?';
        }

        return new string(name);
    }

    /// <summary>A read-only stream over the IDAT chunk bodies of one buffer, in order, without copying them.</summary>
    private sealed class SegmentStream(ReadOnlyMemory<byte> buffer, List<(int Offset, int Length)> segments) : Stream
    {
        private int segment;
        private int position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer1, int offset, int count) => Read(buffer1.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            while (segment < segments.Count)
            {
                var (start, length) = segments[segment];
                int left = length - position;
                if (left > 0 && destination.Length > 0)
                {
                    int n = Math.Min(left, destination.Length);
                    buffer.Span.Slice(start + position, n).CopyTo(destination);
                    position += n;
                    return n;
                }

                if (destination.Length == 0)
                {
                    return 0;
                }

                segment++;
                position = 0;
            }

            return 0;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer1, int offset, int count) => throw new NotSupportedException();
    }
}
