using System;
using System.Linq;
using FlowOod.Scoring;
using FluentAssertions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class PngDecoderTests
{
    private static BadInputException Refused(byte[] png, int channels = 1, int height = 28, int width = 28)
    {
        var act = () => PngDecoder.Decode(png, channels, height, width);
        return act.Should().Throw<BadInputException>().Which;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Decode_PngCompressorFile_GivesThePlanarPixelsBack(int channels)
    {
        var pixels = TestPng.Random(channels * 28 * 28, channels);
        var png = new PngCompressor().Encode(pixels, channels, 28, 28);     // an independent encoder (core library)
        PngDecoder.Decode(png, channels, 28, 28).Should().Equal(pixels);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(0, 2)]
    [InlineData(0, 3)]
    [InlineData(0, 4)]
    [InlineData(2, 3)]
    [InlineData(2, 4)]
    [InlineData(6, 4)]
    public void Decode_EveryFilterType_IsUndone(byte colourType, byte filter)
    {
        int bpp = colourType switch { 0 => 1, 2 => 3, _ => 4 };
        int gateChannels = colourType == 0 ? 1 : 3;
        var interleaved = TestPng.Random(bpp * 7 * 5, filter + 10);
        var png = TestPng.Image(interleaved, 7, 5, colourType, y => (byte)((filter + y) % 5)); // mixes all five down the rows
        var decoded = PngDecoder.Decode(png, gateChannels, 5, 7);
        for (int c = 0; c < gateChannels; c++)
        {
            for (int i = 0; i < 35; i++)
            {
                decoded[(c * 35) + i].Should().Be(interleaved[(i * bpp) + c]);
            }
        }
    }

    [Fact]
    public void Decode_GreyAlphaForAGreyGate_DropsAlpha()
    {
        var interleaved = TestPng.Random(2 * 4 * 4, 3);
        var decoded = PngDecoder.Decode(TestPng.Image(interleaved, 4, 4, 4), 1, 4, 4);
        decoded.Should().Equal(Enumerable.Range(0, 16).Select(i => interleaved[2 * i]));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(6, 1)]
    [InlineData(0, 3)]
    [InlineData(4, 3)]
    public void Decode_ColourThatDoesNotMatchTheGate_Is415(byte colourType, int gateChannels)
    {
        int bpp = colourType switch { 0 => 1, 2 => 3, 4 => 2, _ => 4 };
        var e = Refused(TestPng.Image(new byte[bpp * 16], 4, 4, colourType), gateChannels, 4, 4);
        e.StatusCode.Should().Be(415);
        e.Message.Should().Contain("channel");
    }

    [Fact]
    public void Decode_ImageSplitOverSeveralIdatChunks_Decodes()
    {
        var pixels = TestPng.Random(16, 5);
        var z = TestPng.Zlib(TestPng.Scanlines(pixels, 4, 4, 1, _ => 1));
        var png = TestPng.File(TestPng.Ihdr(4, 4), TestPng.Chunk("tEXt", "a\0b"u8.ToArray()), TestPng.Chunk("IDAT", z[..3]), TestPng.Chunk("IDAT", z[3..]), TestPng.Chunk("IEND", []));
        PngDecoder.Decode(png, 1, 4, 4).Should().Equal(pixels);
    }

    [Fact]
    public void Decode_HugeDeclaredSize_IsRefusedFromTheHeaderWithoutAllocating()
    {
        var bomb = TestPng.File(TestPng.Ihdr(1 << 30, 1 << 30), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[1000])), TestPng.Chunk("IEND", []));
        Refused(bomb);                                             // warm up (JIT, exception machinery)
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            PngDecoder.Decode(bomb, 1, 28, 28);
        }
        catch (BadInputException)
        {
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(64 * 1024);
        var e = Refused(bomb);
        e.StatusCode.Should().Be(400);
        e.Message.Should().Contain("1073741824x1073741824").And.Contain("28x28");
    }

    [Fact]
    public void Decode_EndlessImageData_IsCutAtTheImageSize()
    {
        var endless = TestPng.Zlib(new byte[64 << 20]);   // 64 MiB of zeros, ~64 KiB compressed, for a 28x28 image
        var png = TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", endless), TestPng.Chunk("IEND", []));
        Refused(png);
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            PngDecoder.Decode(png, 1, 28, 28);
        }
        catch (BadInputException)
        {
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(256 * 1024);
        var e = Refused(png);
        e.StatusCode.Should().Be(400);
        e.Message.Should().Contain("more than");
    }

    [Fact]
    public void Decode_ShortImageData_Is400()
    {
        var png = TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[100])), TestPng.Chunk("IEND", []));
        Refused(png).Message.Should().Contain("truncated");
    }

    [Theory]
    [InlineData(16, 0, 0, 415, "bit depth")]
    [InlineData(8, 3, 0, 415, "Palette")]
    [InlineData(8, 0, 1, 415, "Interlaced")]
    [InlineData(8, 5, 0, 400, "colour type")]
    public void Decode_UnsupportedOrInvalidHeader_IsRefusedWithItsReason(byte depth, byte colour, byte interlace, int status, string reason)
    {
        var png = TestPng.File(TestPng.Ihdr(28, 28, depth, colour, interlace), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[29 * 28])), TestPng.Chunk("IEND", []));
        var e = Refused(png);
        e.StatusCode.Should().Be(status);
        e.Message.Should().Contain(reason);
    }

    [Fact]
    public void Decode_DamagedFiles_Are400WithAMessage()
    {
        var good = TestPng.Image(new byte[28 * 28], 28, 28, 0);
        Refused([]).Message.Should().Contain("signature");
        Refused("GIF89a.........."u8.ToArray()).Message.Should().Contain("signature");
        var badCrc = (byte[])good.Clone();
        badCrc[8 + 8 + 5] ^= 1;                       // inside IHDR's data
        Refused(badCrc).Message.Should().Contain("CRC");
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[29 * 28])))).Message.Should().Contain("IEND");
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IEND", []))).Message.Should().Contain("IDAT");
        Refused(TestPng.File(TestPng.Chunk("IDAT", []), TestPng.Ihdr(28, 28))).Message.Should().Contain("IHDR");
        var badFilter = new byte[29 * 28];
        badFilter[29] = 7;
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", TestPng.Zlib(badFilter)), TestPng.Chunk("IEND", []))).Message.Should().Contain("filter type 7");
        var z = TestPng.Zlib(new byte[29 * 28]);
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", z[..4]), TestPng.Chunk("tEXt", [1]), TestPng.Chunk("IDAT", z[4..]), TestPng.Chunk("IEND", [])))
            .Message.Should().Contain("consecutive");
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", [1, 2, 3, 4, 5]), TestPng.Chunk("IEND", []))).StatusCode.Should().Be(400);
        Refused(TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("ABCD", []), TestPng.Chunk("IDAT", z), TestPng.Chunk("IEND", []))).StatusCode.Should().Be(415);
    }

    [Fact]
    public void Decode_EveryTruncationAndRandomDamage_IsABadInputNeverAnotherException()
    {
        var good = new PngCompressor().Encode(TestPng.Random(784, 9), 1, 28, 28);
        for (int length = 0; length < good.Length; length++)
        {
            Refused(good[..length]).StatusCode.Should().Be(400);
        }

        var random = new Random(1);
        for (int trial = 0; trial < 2000; trial++)
        {
            var damaged = (byte[])good.Clone();
            for (int k = 0; k < 1 + random.Next(4); k++)
            {
                damaged[random.Next(damaged.Length)] = (byte)random.Next(256);
            }

            try
            {
                PngDecoder.Decode(damaged, 1, 28, 28);
            }
            catch (BadInputException)
            {
            }
        }
    }
}
