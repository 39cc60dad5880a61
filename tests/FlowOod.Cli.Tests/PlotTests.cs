using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

public sealed class PlotTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-plot-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Checks the PNG signature and the IHDR chunk; returns the width and height it states.</summary>
    internal static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes.Length.Should().BeGreaterThan(33, $"{path} holds a PNG");
        bytes.Take(8).Should().Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, $"{path} starts with the PNG signature");
        BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8)).Should().Be(13, "IHDR is 13 bytes");
        System.Text.Encoding.ASCII.GetString(bytes, 12, 4).Should().Be("IHDR");
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Fact]
    public void Histogram_WritesPngOfTheStatedSizeAndAnSvg()
    {
        var random = new Random(1);
        var a = Enumerable.Range(0, 300).Select(_ => random.NextDouble()).ToArray();
        var b = Enumerable.Range(0, 200).Select(_ => 0.5 + random.NextDouble()).ToArray();
        var path = Path.Combine(folder, "hist");

        Plots.Histogram(path, "title", "x", [("a", a), ("b", b)]);

        PngSize(path + ".png").Should().Be((Plots.Width, Plots.Height));
        File.ReadAllText(path + ".svg").Should().Contain("<svg");
    }

    [Fact]
    public void Roc_WritesPngOfTheStatedSizeWithAurocInTheLegend()
    {
        var result = new OodResult("s", "in", "ood set", [0.1, 0.2, 0.3, 0.4], [0.35, 0.5, 0.6]);
        var path = Path.Combine(folder, "roc");

        Plots.Roc(path, "ROC", [result]);

        PngSize(path + ".png").Should().Be((Plots.Width, Plots.Height));
        File.ReadAllText(path + ".svg").Should().Contain("AUROC");
    }

    [Fact]
    public void ImageGrid_WritesPngOfTheReturnedSize()
    {
        var images = Enumerable.Range(0, 10 * 28 * 28).Select(i => (float)(i % 28) / 27).ToArray();
        var path = Path.Combine(folder, "grid");

        var size = Plots.ImageGrid(path, "grid", images, 10, 28, 28, columns: 4);

        size.Should().Be(Plots.GridSize(3, 4, rowLabels: false));
        (4 * Plots.GridCellFor(4)).Should().BeGreaterThanOrEqualTo(480, "narrower images cannot be read on the results page");
        size.Width.Should().BeGreaterThan(4 * Plots.GridCellFor(4));
        PngSize(path + ".png").Should().Be(size);
        File.Exists(path + ".svg").Should().BeTrue();
    }

    [Fact]
    public void ImageGrid_RowZeroIsDrawnAtTheTop()
    {
        // Top half of every image mid-gray, bottom half black; the figure background is white. Scanning down from the
        // top edge inside the first image column, the first non-white pixel is gray when row 0 is at the top.
        var images = new float[8 * 28 * 28];
        for (int n = 0; n < 8; n++)
        {
            images.AsSpan((n * 784), 14 * 28).Fill(0.5f);
        }

        var path = Path.Combine(folder, "orientation");
        var (width, height) = Plots.ImageGrid(path, "orientation", images, 8, 28, 28, columns: 8);

        using var bitmap = SkiaSharp.SKBitmap.Decode(path + ".png");
        var x = 8 + (Plots.GridCellFor(8) / 2);
        var first = Enumerable.Range(Plots.GridTop, height - Plots.GridTop).Select(y => bitmap.GetPixel(x, y)).First(c => c.Red < 250);
        ((int)first.Red).Should().BeInRange(100, 160, "the top half of each image is mid-gray");
    }

    [Fact]
    public void Histogram_NoFiniteValues_ThrowsArgumentException()
    {
        var act = () => Plots.Histogram(Path.Combine(folder, "x"), "t", "x", [("a", [double.NaN])]);

        act.Should().Throw<ArgumentException>();
    }
}
