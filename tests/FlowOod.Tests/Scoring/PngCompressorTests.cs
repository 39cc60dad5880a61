using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using FlowOod.Scoring;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Scoring;

public sealed class PngCompressorTests
{
    public static TheoryData<int, int, int, string> Images() => new()
    {
        { 1, 28, 28, "noise" },
        { 1, 28, 28, "gradient" },
        { 1, 28, 28, "constant" },
        { 1, 1, 1, "noise" },
        { 2, 5, 7, "noise" },
        { 3, 9, 4, "gradient" },
        { 3, 16, 16, "blocks" },
        { 4, 6, 11, "noise" },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void Encode_Image_IsAValidPngThatDecodesToTheSamePixels(int channels, int height, int width, string kind)
    {
        var pixels = Pixels(channels, height, width, kind, seed: channels + height + width);

        var png = new PngCompressor().Encode(pixels, channels, height, width);

        var decoded = PngReader.Decode(png, out var header, out _);
        header.Should().Be((width, height, 8, channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 }, 0, 0, 0));
        decoded.Should().Equal(pixels);
    }

    [Fact]
    public void Encode_VariedImages_UsesEveryFilterType()
    {
        // The round-trip test above only covers the unfilter code for the filter types the encoder picked.
        var seen = new HashSet<int>();
        var compressor = new PngCompressor();
        foreach (var kind in new[] { "noise", "gradient", "blocks", "constant", "photo" })
        {
            for (int seed = 0; seed < 4; seed++)
            {
                var pixels = Pixels(1, 28, 28, kind, seed);
                PngReader.Decode(compressor.Encode(pixels, 1, 28, 28), out _, out var filters).Should().Equal(pixels);
                seen.UnionWith(filters);
            }
        }

        seen.Should().BeEquivalentTo([0, 1, 2, 3, 4]);
    }

    [Fact]
    public void Encode_EndChunk_HasTheWellKnownCrc()
    {
        var png = new PngCompressor().Encode(new byte[] { 7 }, 1, 1, 1);

        png[^12..].Should().Equal(0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82);
    }

    [Fact]
    public void CompressedBits_SameImageTwice_IsDeterministicAndEightTimesTheFileLength()
    {
        var pixels = Pixels(3, 20, 20, "photo", seed: 5);
        var compressor = new PngCompressor();

        var first = compressor.Encode(pixels, 3, 20, 20);
        var second = compressor.Encode(pixels, 3, 20, 20);

        second.Should().Equal(first);
        compressor.CompressedBits(pixels, 3, 20, 20).Should().Be(8L * first.Length);
        compressor.Name.Should().Be("PNG");
    }

    [Theory]
    [InlineData(typeof(PngCompressor))]
    [InlineData(typeof(DeflateCompressor))]
    public void CompressedBits_ConstantImage_FarFewerBitsThanNoise(Type type)
    {
        var compressor = (ICompressor)Activator.CreateInstance(type)!;

        var constant = compressor.CompressedBits(Pixels(1, 28, 28, "constant", seed: 1), 1, 28, 28);
        var noise = compressor.CompressedBits(Pixels(1, 28, 28, "noise", seed: 1), 1, 28, 28);

        constant.Should().BeLessThan(noise / 5);
        noise.Should().BeGreaterThan(8 * 28 * 28, "uniform noise does not compress");
        (constant % 8).Should().Be(0);
    }

    [Fact]
    public void DeflateCompressor_CompressedBytes_InflateToThePlanarPixels()
    {
        var pixels = Pixels(3, 10, 12, "photo", seed: 2);
        var compressor = new DeflateCompressor();

        using var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            deflate.Write(pixels);
        }

        compressor.CompressedBits(pixels, 3, 10, 12).Should().Be(8 * compressed.Length);
        compressed.Position = 0;
        using var inflate = new DeflateStream(compressed, CompressionMode.Decompress);
        using var output = new MemoryStream();
        inflate.CopyTo(output);
        output.ToArray().Should().Equal(pixels);
        compressor.Name.Should().Be("Deflate");
    }

    [Theory]
    [InlineData(typeof(PngCompressor))]
    [InlineData(typeof(DeflateCompressor))]
    public void CompressedBits_PixelCountMismatch_ThrowsArgumentException(Type type)
    {
        var compressor = (ICompressor)Activator.CreateInstance(type)!;

        var act = () => compressor.CompressedBits(new byte[10], 1, 3, 3);

        act.Should().Throw<ArgumentException>().WithMessage("*1×3×3 = 9*got 10*");
    }

    [Theory]
    [InlineData(0, 2, 2)]
    [InlineData(1, 0, 2)]
    [InlineData(1, 2, -1)]
    public void CompressedBits_NonPositiveSize_ThrowsArgumentOutOfRange(int channels, int height, int width)
    {
        var act = () => new PngCompressor().CompressedBits(new byte[4], channels, height, width);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Encode_FiveChannels_ThrowsArgumentException()
    {
        var act = () => new PngCompressor().Encode(new byte[5 * 4], 5, 2, 2);

        act.Should().Throw<ArgumentException>().WithMessage("*1 to 4 channels*5*");
    }

    internal static byte[] Pixels(int channels, int height, int width, string kind, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[channels * height * width];
        var blockLevels = Enumerable.Range(0, 64).Select(_ => (byte)random.Next(256)).ToArray();
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    pixels[(c * height * width) + (y * width) + x] = kind switch
                    {
                        "noise" => (byte)random.Next(256),
                        "gradient" => (byte)((3 * x) + (5 * y) + (40 * c) + seed),
                        "constant" => (byte)(17 + seed),
                        "blocks" => blockLevels[(((y / 4) * 8) + (x / 4) + c) % 64],
                        "photo" => (byte)Math.Clamp(128 + (60 * Math.Sin((x + seed) / 3.0) * Math.Cos(y / 4.0)) + random.Next(-6, 7), 0, 255),
                        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
                    };
                }
            }
        }

        return pixels;
    }

    // An independent minimal PNG reader: signature, chunk CRCs (bitwise CRC-32), IHDR, IDAT inflate and unfilter.
    private static class PngReader
    {
        public static byte[] Decode(
            byte[] png, out (int Width, int Height, int Depth, int Colour, int Compression, int Filter, int Interlace) header, out List<int> filters)
        {
            png[..8].Should().Equal(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A);
            var chunks = new List<(string Type, byte[] Data)>();
            var offset = 8;
            while (offset < png.Length)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
                var typeAndData = png.AsSpan(offset + 4, 4 + length);
                var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
                crc.Should().Be(BitwiseCrc32(typeAndData), "every chunk's CRC covers its type and data");
                chunks.Add((System.Text.Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray()));
                offset += 12 + length;
            }

            offset.Should().Be(png.Length);
            chunks.Select(c => c.Type).Should().Equal("IHDR", "IDAT", "IEND");
            var ihdr = chunks[0].Data;
            ihdr.Should().HaveCount(13);
            header = (BinaryPrimitives.ReadInt32BigEndian(ihdr), BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4)), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]);
            chunks[2].Data.Should().BeEmpty();
            var channels = header.Colour switch { 0 => 1, 4 => 2, 2 => 3, 6 => 4, _ => -1 };
            var (width, height) = (header.Width, header.Height);

            using var inflate = new ZLibStream(new MemoryStream(chunks[1].Data), CompressionMode.Decompress);
            using var raw = new MemoryStream();
            inflate.CopyTo(raw);
            var scanlines = raw.ToArray();
            var rowBytes = channels * width;
            scanlines.Should().HaveCount(height * (rowBytes + 1));

            filters = [];
            var previous = new byte[rowBytes];
            var pixels = new byte[channels * height * width];
            for (int y = 0; y < height; y++)
            {
                var filter = scanlines[y * (rowBytes + 1)];
                filters.Add(filter);
                var row = scanlines.AsSpan((y * (rowBytes + 1)) + 1, rowBytes).ToArray();
                for (int i = 0; i < rowBytes; i++)
                {
                    int a = i >= channels ? row[i - channels] : 0;
                    int b = previous[i];
                    int c = i >= channels ? previous[i - channels] : 0;
                    int predictor = filter switch
                    {
                        0 => 0,
                        1 => a,
                        2 => b,
                        3 => (a + b) / 2,
                        4 => Paeth(a, b, c),
                        _ => throw new InvalidDataException($"filter type {filter}"),
                    };
                    row[i] = (byte)(row[i] + predictor);
                }

                for (int x = 0; x < width; x++)
                {
                    for (int ch = 0; ch < channels; ch++)
                    {
                        pixels[(ch * height * width) + (y * width) + x] = row[(x * channels) + ch];
                    }
                }

                previous = row;
            }

            return pixels;
        }

        private static int Paeth(int a, int b, int c)
        {
            var p = a + b - c;
            var (pa, pb, pc) = (Math.Abs(p - a), Math.Abs(p - b), Math.Abs(p - c));
            return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }

        private static uint BitwiseCrc32(ReadOnlySpan<byte> bytes)
        {
            var crc = 0xFFFFFFFFu;
            foreach (var b in bytes)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++)
                {
                    crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
                }
            }

            return ~crc;
        }
    }
}
