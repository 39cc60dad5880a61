using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Data;

public sealed class ImportMnistJsonTests : IDisposable
{
    private const int ImageSize = 28 * 28;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Digits => _folder.Combine("digits");

    private string Output => _folder.Combine("out");

    [Fact]
    public void Run_ValidDigits_WritesInterleavedTestSplit()
    {
        int[] counts = [3, 1, 2, 1, 1, 1, 1, 1, 1, 1];
        for (var digit = 0; digit < 10; digit++)
        {
            WriteDigit(digit, Enumerable.Range(0, counts[digit]).Select(image => Image(digit, image)).ToArray());
        }

        ImportMnistJson.Run(Digits, Output).Should().Be(0);

        var dataset = ImageDataset.LoadMnistFormat(Output, DatasetSplit.Test, "imported");
        byte[] expectedLabels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 2, 0];
        int[] expectedImageIndex = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2];
        dataset.Count.Should().Be(13);
        dataset.Height.Should().Be(28);
        dataset.Width.Should().Be(28);
        dataset.Labels.ToArray().Should().Equal(expectedLabels);
        for (var i = 0; i < expectedLabels.Length; i++)
        {
            dataset.Pixels.Slice(i * ImageSize, ImageSize).ToArray()
                .Should().Equal(Image(expectedLabels[i], expectedImageIndex[i]), $"image {i} is image {expectedImageIndex[i]} of digit {expectedLabels[i]}");
        }
    }

    [Fact]
    public void Import_ThreeDecimalValues_RecoverEveryPixelExactly()
    {
        var all = Enumerable.Range(0, ImageSize).Select(i => (byte)(i % 256)).ToArray();
        for (var digit = 0; digit < 10; digit++)
        {
            WriteDigit(digit, all);
        }

        ImportMnistJson.Import(Digits, Output).Should().Be(10);

        var images = IdxFile.Read(Path.Combine(Output, "t10k-images-idx3-ubyte.gz"));
        images.Dimensions.Should().Equal(10, 28, 28);
        images.Data[..ImageSize].ToArray().Should().Equal(all);
    }

    [Fact]
    public void Import_MissingDigitFile_ThrowsNamingIt()
    {
        for (var digit = 0; digit < 9; digit++)
        {
            WriteDigit(digit, Image(digit, 0));
        }

        var act = () => ImportMnistJson.Import(Digits, Output);

        act.Should().Throw<FileNotFoundException>().WithMessage($"*'{Path.Combine(Digits, "9.json")}' does not exist*");
        Directory.Exists(Output).Should().BeFalse();
    }

    [Theory]
    [InlineData("{\"data\":[0,1", "is not valid JSON")]
    [InlineData("[0, 1]", "must be a JSON object with a \"data\" array")]
    [InlineData("{\"pixels\":[]}", "must be a JSON object with a \"data\" array")]
    [InlineData("{\"data\":{}}", "must be a JSON object with a \"data\" array")]
    [InlineData("{\"data\":[]}", "has 0 values, not a positive multiple of 784")]
    [InlineData("{\"data\":[0,0,0]}", "has 3 values, not a positive multiple of 784")]
    public void Import_MalformedDigitFile_ThrowsNamingFileAndProblem(string json, string problem)
    {
        WriteAllDigitsThenReplace(3, json);

        var act = () => ImportMnistJson.Import(Digits, Output);

        act.Should().Throw<InvalidDataException>().WithMessage($"*'{Path.Combine(Digits, "3.json")}'*{problem}*");
    }

    [Theory]
    [InlineData("1.5", "not a number in [0, 1]")]
    [InlineData("-0.004", "not a number in [0, 1]")]
    [InlineData("\"0.5\"", "not a number in [0, 1]")]
    [InlineData("null", "not a number in [0, 1]")]
    [InlineData("0.1", "not a pixel / 255 rounded to 3 decimals")]
    [InlineData("0.5", "not a pixel / 255 rounded to 3 decimals")]
    public void Import_InvalidValue_ThrowsNamingItsIndexAndText(string value, string problem)
    {
        var values = Enumerable.Repeat("0", ImageSize).ToArray();
        values[700] = value;
        WriteAllDigitsThenReplace(5, "{\"data\":[" + string.Join(",", values) + "]}");

        var act = () => ImportMnistJson.Import(Digits, Output);

        act.Should().Throw<InvalidDataException>().WithMessage($"*'{Path.Combine(Digits, "5.json")}': value 700 is {value}, *{problem}*");
    }

    [Fact]
    public void Run_InvalidInput_ReturnsOneAndWritesNothing()
    {
        WriteAllDigitsThenReplace(0, "{\"data\":[2]}");

        ImportMnistJson.Run(Digits, Output).Should().Be(1);
        Directory.Exists(Output).Should().BeFalse();
    }

    private static byte[] Image(int digit, int index) =>
        Enumerable.Range(0, ImageSize).Select(i => (byte)((i * (digit + 3)) + (index * 101))).ToArray();

    private void WriteAllDigitsThenReplace(int digit, string json)
    {
        for (var d = 0; d < 10; d++)
        {
            WriteDigit(d, Image(d, 0));
        }

        _folder.Write(Path.Combine("digits", $"{digit}.json"), Encoding.UTF8.GetBytes(json));
    }

    // Renders pixels the way the npm package does: pixel / 255 with at most 3 decimals.
    private void WriteDigit(int digit, params byte[][] images)
    {
        var values = images.SelectMany(image => image)
            .Select(p => Math.Round(p / 255.0, 3).ToString("0.###", CultureInfo.InvariantCulture));
        _folder.Write(Path.Combine("digits", $"{digit}.json"), Encoding.UTF8.GetBytes("{ \"data\": [" + string.Join(",", values) + "]}"));
    }
}
