using System;
using System.IO;
using FlowOod.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;

namespace FlowOod.Tests.Data;

public sealed class ImageDatasetTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void LoadIdx_MatchingFiles_LoadsImagesAndLabels()
    {
        var pixels = IdxBytes.Pattern(3 * 2 * 4);
        var images = _folder.Write("images", IdxBytes.File([3, 2, 4], pixels));
        var labels = _folder.Write("labels.gz", IdxBytes.Gzip(IdxBytes.File([3], [7, 0, 9])));

        var dataset = ImageDataset.LoadIdx(images, labels, "tiny");

        dataset.Name.Should().Be("tiny");
        dataset.Count.Should().Be(3);
        dataset.Height.Should().Be(2);
        dataset.Width.Should().Be(4);
        dataset.Pixels.ToArray().Should().Equal(pixels);
        dataset.Labels.ToArray().Should().Equal(7, 0, 9);
    }

    [Fact]
    public void LoadIdx_CountMismatch_ThrowsNamingBothFiles()
    {
        var images = _folder.Write("images", IdxBytes.File([3, 2, 2], new byte[12]));
        var labels = _folder.Write("labels", IdxBytes.File([4], new byte[4]));

        var act = () => ImageDataset.LoadIdx(images, labels, "mismatch");

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{images}' holds 3 images*'{labels}' holds 4 labels*");
    }

    [Fact]
    public void LoadIdx_ImagesNotRankThree_Throws()
    {
        var images = _folder.Write("images", IdxBytes.File([3, 4], new byte[12]));
        var labels = _folder.Write("labels", IdxBytes.File([3], new byte[3]));

        var act = () => ImageDataset.LoadIdx(images, labels, "flat");

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{images}' has 2 dimensions; an images file needs 3*");
    }

    [Fact]
    public void LoadIdx_LabelsNotRankOne_Throws()
    {
        var images = _folder.Write("images", IdxBytes.File([3, 1, 1], new byte[3]));
        var labels = _folder.Write("labels", IdxBytes.File([3, 1], new byte[3]));

        var act = () => ImageDataset.LoadIdx(images, labels, "labels");

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{labels}' has 2 dimensions; a labels file needs 1*");
    }

    [Theory]
    [InlineData(DatasetSplit.Train, "train", false)]
    [InlineData(DatasetSplit.Train, "train", true)]
    [InlineData(DatasetSplit.Test, "t10k", false)]
    [InlineData(DatasetSplit.Test, "t10k", true)]
    public void LoadMnistFormat_StandardNames_LoadsTheSplit(DatasetSplit split, string prefix, bool gzip)
    {
        WriteSplit("train", count: 5, gzip);
        WriteSplit("t10k", count: 2, gzip);

        var dataset = ImageDataset.LoadMnistFormat(_folder.Path, split, "digits");

        dataset.Count.Should().Be(prefix == "train" ? 5 : 2);
        dataset.Height.Should().Be(3);
        dataset.Width.Should().Be(2);
    }

    [Fact]
    public void LoadMnistFormat_MixedRawAndGzipFiles_LoadsBoth()
    {
        _folder.Write("t10k-images-idx3-ubyte.gz", IdxBytes.Gzip(IdxBytes.File([2, 1, 1], [5, 6])));
        _folder.Write("t10k-labels-idx1-ubyte", IdxBytes.File([2], [1, 2]));

        var dataset = ImageDataset.LoadMnistFormat(_folder.Path, DatasetSplit.Test, "mixed");

        dataset.Pixels.ToArray().Should().Equal(5, 6);
        dataset.Labels.ToArray().Should().Equal(1, 2);
    }

    [Fact]
    public void LoadMnistFormat_RawAndGzipBothPresent_PrefersRaw()
    {
        WriteSplit("t10k", count: 2, gzip: false);
        _folder.Write("t10k-images-idx3-ubyte.gz", [0x1F, 0x8B, 0xFF]);
        _folder.Write("t10k-labels-idx1-ubyte.gz", [0x1F, 0x8B, 0xFF]);

        var dataset = ImageDataset.LoadMnistFormat(_folder.Path, DatasetSplit.Test, "both");

        dataset.Count.Should().Be(2);
    }

    [Fact]
    public void LoadMnistFormat_MissingLabels_MessageListsNamesAndDirectory()
    {
        _folder.Write("t10k-images-idx3-ubyte.gz", IdxBytes.Gzip(IdxBytes.File([2, 1, 1], [5, 6])));

        var act = () => ImageDataset.LoadMnistFormat(_folder.Path, DatasetSplit.Test, "incomplete");

        act.Should().Throw<FileNotFoundException>()
            .WithMessage($"No test-split file found in '{_folder.Path}': looked for 't10k-labels-idx1-ubyte' and 't10k-labels-idx1-ubyte.gz'.");
    }

    [Fact]
    public void LoadMnistFormat_MissingDirectory_MessageSaysTheFolderDoesNotExist()
    {
        var directory = _folder.Combine("absent");

        var act = () => ImageDataset.LoadMnistFormat(directory, DatasetSplit.Train, "absent");

        act.Should().Throw<FileNotFoundException>()
            .WithMessage($"*the folder '{directory}' does not exist*'train-images-idx3-ubyte' and 'train-images-idx3-ubyte.gz'*");
    }

    [Fact]
    public void Constructor_ValidArrays_CopiesThem()
    {
        byte[] pixels = [1, 2, 3, 4];
        byte[] labels = [8, 9];

        var dataset = new ImageDataset("copied", 1, 2, pixels, labels);
        pixels[0] = 100;
        labels[0] = 100;

        dataset.Count.Should().Be(2);
        dataset.Pixels.ToArray().Should().Equal(1, 2, 3, 4);
        dataset.Labels.ToArray().Should().Equal(8, 9);
    }

    [Fact]
    public void Constructor_PixelCountMismatch_Throws()
    {
        var act = () => new ImageDataset("bad", 2, 2, new byte[7], new byte[2]);

        act.Should().Throw<ArgumentException>().WithMessage("2 labels of 2×2 images need 8 pixels, got 7.*");
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(2, 0)]
    [InlineData(-1, 2)]
    public void Constructor_NonPositiveSize_Throws(int height, int width)
    {
        var act = () => new ImageDataset("bad", height, width, [], []);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Take_Prefix_KeepsFirstImagesAndLabels()
    {
        var dataset = new ImageDataset("three", 1, 2, [1, 2, 3, 4, 5, 6], [7, 8, 9]);

        var first = dataset.Take(2);

        first.Count.Should().Be(2);
        first.Name.Should().Be("three");
        first.Pixels.ToArray().Should().Equal(1, 2, 3, 4);
        first.Labels.ToArray().Should().Equal(7, 8);
        dataset.Take(0).Count.Should().Be(0);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void Take_CountOutOfRange_Throws(int count)
    {
        var dataset = new ImageDataset("three", 1, 1, [1, 2, 3], [0, 1, 2]);

        var act = () => dataset.Take(count);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"Can take 0 to 3 images from 'three', not {count}.*");
    }

    [Fact]
    public void ToTensor_Range_ReturnsScaledFloatImages()
    {
        var dataset = new ImageDataset("scaled", 2, 2, [9, 9, 9, 9, 255, 0, 51, 102, 1, 2, 3, 4], [0, 1, 2]);

        using var images = dataset.ToTensor(1, 2);

        images.shape.Should().Equal(2, 1, 2, 2);
        images.dtype.Should().Be(torch.ScalarType.Float32);
        images.data<float>().ToArray().Should().Equal(1f, 0f, 0.2f, 0.4f, 1f / 255, 2f / 255, 3f / 255, 4f / 255);
    }

    [Fact]
    public void ToTensor_WholeDataset_ReturnsEveryImage()
    {
        var dataset = new ImageDataset("whole", 1, 3, [0, 255, 0, 255, 0, 255], [0, 1]);

        using var images = dataset.ToTensor(0, dataset.Count, torch.CPU);

        images.shape.Should().Equal(2, 1, 1, 3);
        images.sum().item<float>().Should().Be(3f);
    }

    [Theory]
    [InlineData(-1, 1, "start")]
    [InlineData(4, 0, "start")]
    [InlineData(0, 4, "count")]
    [InlineData(2, 2, "count")]
    [InlineData(1, -1, "count")]
    public void ToTensor_RangeOutsideDataset_Throws(int start, int count, string parameter)
    {
        var dataset = new ImageDataset("three", 1, 1, [1, 2, 3], [0, 1, 2]);

        var act = () => dataset.ToTensor(start, count);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'three'*").Which.ParamName.Should().Be(parameter);
    }

    private void WriteSplit(string prefix, int count, bool gzip)
    {
        var suffix = gzip ? ".gz" : string.Empty;
        var images = IdxBytes.File([count, 3, 2], IdxBytes.Pattern(count * 6));
        var labels = IdxBytes.File([count], IdxBytes.Pattern(count));
        _folder.Write($"{prefix}-images-idx3-ubyte{suffix}", gzip ? IdxBytes.Gzip(images) : images);
        _folder.Write($"{prefix}-labels-idx1-ubyte{suffix}", gzip ? IdxBytes.Gzip(labels) : labels);
    }
}
