using System;
using System.IO;
using static TorchSharp.torch;

namespace FlowOod.Data;

/// <summary>
/// An immutable set of 8-bit grayscale images of one size with one byte label each, such as MNIST or Fashion-MNIST.
/// </summary>
public sealed class ImageDataset
{
    private ImageDataset(string name, int count, int height, int width, ReadOnlyMemory<byte> pixels, ReadOnlyMemory<byte> labels)
    {
        Name = name;
        Count = count;
        Height = height;
        Width = width;
        Pixels = pixels;
        Labels = labels;
    }

    /// <summary>Creates a dataset from copies of the given pixels and labels.</summary>
    /// <param name="name">A name for reports and messages.</param>
    /// <param name="height">The image height in pixels.</param>
    /// <param name="width">The image width in pixels.</param>
    /// <param name="pixels">The images in row-major order, N × height × width bytes.</param>
    /// <param name="labels">One label per image, N bytes.</param>
    /// <exception cref="ArgumentException">The sizes are not positive or the lengths do not agree.</exception>
    public ImageDataset(string name, int height, int width, ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if ((long)labels.Length * height * width != pixels.Length)
        {
            throw new ArgumentException(
                $"{labels.Length} labels of {height}×{width} images need {(long)labels.Length * height * width} pixels, got {pixels.Length}.",
                nameof(pixels));
        }

        Name = name;
        Count = labels.Length;
        Height = height;
        Width = width;
        Pixels = pixels.ToArray();
        Labels = labels.ToArray();
    }

    /// <summary>The dataset's name, for reports and messages.</summary>
    public string Name { get; }

    /// <summary>The number of images.</summary>
    public int Count { get; }

    /// <summary>The image height in pixels.</summary>
    public int Height { get; }

    /// <summary>The image width in pixels.</summary>
    public int Width { get; }

    /// <summary>The images in row-major order: <see cref="Count"/> × <see cref="Height"/> × <see cref="Width"/> bytes.</summary>
    public ReadOnlyMemory<byte> Pixels { get; }

    /// <summary>One label per image.</summary>
    public ReadOnlyMemory<byte> Labels { get; }

    /// <summary>Loads an images file (rank 3: N × height × width) and a labels file (rank 1: N) in IDX format.</summary>
    /// <param name="imagesPath">The images file, raw or gzip-compressed.</param>
    /// <param name="labelsPath">The labels file, raw or gzip-compressed.</param>
    /// <param name="name">A name for reports and messages.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="IdxFormatException">A file is malformed, has the wrong rank, or the counts differ.</exception>
    public static ImageDataset LoadIdx(string imagesPath, string labelsPath, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagesPath);
        ArgumentException.ThrowIfNullOrEmpty(labelsPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var images = IdxFile.Read(imagesPath);
        if (images.Dimensions.Count != 3)
        {
            throw new IdxFormatException(
                $"IDX file '{imagesPath}' has {images.Dimensions.Count} dimensions; an images file needs 3 (count, height, width).");
        }

        var labels = IdxFile.Read(labelsPath);
        if (labels.Dimensions.Count != 1)
        {
            throw new IdxFormatException(
                $"IDX file '{labelsPath}' has {labels.Dimensions.Count} dimensions; a labels file needs 1 (count).");
        }

        if (labels.Count != images.Count)
        {
            throw new IdxFormatException(
                $"Images file '{imagesPath}' holds {images.Count} images but labels file '{labelsPath}' holds {labels.Count} labels.");
        }

        return new ImageDataset(
            name, images.Dimensions[0], images.Dimensions[1], images.Dimensions[2], images.Data, labels.Data);
    }

    /// <summary>
    /// Loads one split from a folder holding the standard MNIST file names: <c>train-images-idx3-ubyte</c>,
    /// <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c>, each raw or
    /// gzip-compressed with a <c>.gz</c> suffix (the raw file is used when both exist).
    /// </summary>
    /// <param name="directory">The folder holding the files.</param>
    /// <param name="split">Which split to load.</param>
    /// <param name="name">A name for reports and messages.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="FileNotFoundException">A file is missing; the message lists the names looked for.</exception>
    /// <exception cref="IdxFormatException">A file is malformed or the two files do not match.</exception>
    public static ImageDataset LoadMnistFormat(string directory, DatasetSplit split, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var prefix = split switch
        {
            DatasetSplit.Train => "train",
            DatasetSplit.Test => "t10k",
            _ => throw new ArgumentOutOfRangeException(nameof(split), split, $"Unknown dataset split {split}."),
        };

        return LoadIdx(
            FindFile(directory, $"{prefix}-images-idx3-ubyte", split),
            FindFile(directory, $"{prefix}-labels-idx1-ubyte", split),
            name);
    }

    /// <summary>The first <paramref name="count"/> images and labels, sharing this dataset's memory.</summary>
    /// <param name="count">How many images to keep, from 0 to <see cref="Count"/>.</param>
    /// <returns>The prefix of this dataset, with the same name.</returns>
    public ImageDataset Take(int count)
    {
        if (count < 0 || count > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Can take 0 to {Count} images from '{Name}', not {count}.");
        }

        return new ImageDataset(Name, count, Height, Width, Pixels[..(count * Height * Width)], Labels[..count]);
    }

    /// <summary>
    /// Copies images <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> − 1 into a float32
    /// tensor of shape <c>[count, 1, Height, Width]</c> with values pixel / 255 in [0, 1].
    /// </summary>
    /// <param name="start">The index of the first image.</param>
    /// <param name="count">How many images.</param>
    /// <param name="device">Where to put the tensor; the CPU when null.</param>
    /// <returns>A new tensor, owned by the caller.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie within the dataset.</exception>
    public Tensor ToTensor(int start, int count, Device? device = null)
    {
        if (start < 0 || start > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), start, $"The start index must be between 0 and {Count} for '{Name}', not {start}.");
        }

        if (count < 0 || count > Count - start)
        {
            throw new ArgumentOutOfRangeException(
                nameof(count), count, $"Cannot take {count} images from index {start} of '{Name}', which holds {Count}.");
        }

        FlowOodRuntime.EnsureAvailable();
        var imageSize = Height * Width;
        var values = PixelScale.ToUnit(Pixels.Span.Slice(start * imageSize, count * imageSize));
        return tensor(values, [count, 1, Height, Width], device: device);
    }

    private static string FindFile(string directory, string baseName, DatasetSplit split)
    {
        var raw = Path.Combine(directory, baseName);
        var gzip = raw + ".gz";
        if (File.Exists(raw))
        {
            return raw;
        }

        if (File.Exists(gzip))
        {
            return gzip;
        }

        var where = Directory.Exists(directory) ? $"in '{directory}'" : $"because the folder '{directory}' does not exist";
        throw new FileNotFoundException(
            $"No {split.ToString().ToLowerInvariant()}-split file found {where}: looked for '{baseName}' and '{baseName}.gz'.", raw);
    }
}
