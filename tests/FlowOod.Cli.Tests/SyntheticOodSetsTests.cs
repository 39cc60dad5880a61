using System;
using System.Linq;
using FlowOod.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

public sealed class SyntheticOodSetsTests
{
    private static ImageDataset Source(int count = 5, int height = 4, int width = 6)
    {
        var random = new Random(7);
        var pixels = new byte[count * height * width];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
        return new ImageDataset("source", height, width, pixels, labels);
    }

    [Theory]
    [InlineData("noise")]
    [InlineData("constant")]
    [InlineData("inverted")]
    [InlineData("hflip")]
    [InlineData("vflip")]
    [InlineData("blur")]
    public void Create_EveryName_KeepsCountSizeAndLabels(string name)
    {
        var source = Source();

        var set = SyntheticOodSets.Create(name, source);

        set.Count.Should().Be(source.Count);
        set.Height.Should().Be(source.Height);
        set.Width.Should().Be(source.Width);
        set.Pixels.Length.Should().Be(source.Pixels.Length);
        set.Labels.ToArray().Should().Equal(source.Labels.ToArray());
        set.Name.Should().NotBe(source.Name);
    }

    [Fact]
    public void Names_AreTheSixDocumentedSets()
    {
        SyntheticOodSets.Names.Should().Equal("noise", "constant", "inverted", "hflip", "vflip", "blur");
    }

    [Fact]
    public void Inverted_Twice_IsTheOriginal()
    {
        var source = Source();

        var twice = SyntheticOodSets.Inverted(SyntheticOodSets.Inverted(source));

        twice.Pixels.ToArray().Should().Equal(source.Pixels.ToArray());
        SyntheticOodSets.Inverted(source).Pixels.Span[3].Should().Be((byte)(255 - source.Pixels.Span[3]));
    }

    [Theory]
    [InlineData("hflip")]
    [InlineData("vflip")]
    public void Flip_Twice_IsTheOriginal(string name)
    {
        var source = Source();

        var twice = SyntheticOodSets.Create(name, SyntheticOodSets.Create(name, source));

        twice.Pixels.ToArray().Should().Equal(source.Pixels.ToArray());
    }

    [Fact]
    public void HorizontalFlip_MirrorsEachRow()
    {
        var source = Source(count: 2, height: 3, width: 4);

        var flipped = SyntheticOodSets.HorizontalFlip(source).Pixels.Span;

        // Image 1, row 2, column 0 comes from column 3 of the same row and image.
        flipped[(1 * 12) + (2 * 4) + 0].Should().Be(source.Pixels.Span[(1 * 12) + (2 * 4) + 3]);
    }

    [Fact]
    public void VerticalFlip_MirrorsEachColumn()
    {
        var source = Source(count: 2, height: 3, width: 4);

        var flipped = SyntheticOodSets.VerticalFlip(source).Pixels.Span;

        flipped[(1 * 12) + (0 * 4) + 1].Should().Be(source.Pixels.Span[(1 * 12) + (2 * 4) + 1]);
    }

    [Fact]
    public void Constant_EachImageIsOneGrayLevel()
    {
        var set = SyntheticOodSets.Constant(Source(count: 20), seed: 3);
        var size = set.Height * set.Width;

        for (int i = 0; i < set.Count; i++)
        {
            var image = set.Pixels.Span.Slice(i * size, size).ToArray();
            image.Distinct().Should().ContainSingle();
        }
    }

    [Fact]
    public void Noise_DependsOnlyOnTheSeedAndCoversTheByteRange()
    {
        var source = Source(count: 50, height: 28, width: 28);

        var a = SyntheticOodSets.Noise(source, seed: 5).Pixels.ToArray();
        var b = SyntheticOodSets.Noise(source, seed: 5).Pixels.ToArray();
        var c = SyntheticOodSets.Noise(source, seed: 6).Pixels.ToArray();

        a.Should().Equal(b);
        a.Should().NotEqual(c);
        a.Min().Should().Be(0);
        a.Max().Should().Be(255);
        a.Select(x => (double)x).Average().Should().BeApproximately(127.5, 2);
    }

    [Fact]
    public void Blur_ConstantImageIsUnchangedAndASpikeSpreadsOverNine()
    {
        var flat = new ImageDataset("flat", 3, 3, Enumerable.Repeat((byte)77, 9).ToArray(), [0]);
        SyntheticOodSets.Blur(flat).Pixels.ToArray().Should().OnlyContain(x => x == 77);

        var spike = new byte[25];
        spike[12] = 90; // the centre of a 5×5 image
        var blurred = SyntheticOodSets.Blur(new ImageDataset("spike", 5, 5, spike, [0])).Pixels.ToArray();

        blurred.Count(x => x == 10).Should().Be(9);
        blurred.Count(x => x == 0).Should().Be(16);
    }

    [Fact]
    public void Create_UnknownName_ThrowsNamingIt()
    {
        var act = () => SyntheticOodSets.Create("sepia", Source());

        act.Should().Throw<ArgumentException>().WithMessage("*sepia*");
    }
}
