using System;
using System.Collections.Generic;
using FlowOod.Data;

namespace FlowOod.Cli;

/// <summary>
/// Synthetic OOD sets made from in-distribution images (e.g. Fashion-MNIST test), byte for byte and without torch:
/// uniform noise, constant images, inverted (255 − x), horizontally or vertically flipped, and 3×3 box-blurred images.
/// </summary>
/// <remarks>
/// These sets exist so that a scorer's settings can be checked on data no reported MNIST number uses. Each result keeps
/// the source's labels, image size and count; its name says how it was made. The random sets (noise, constant) depend
/// only on the seed and the source's count and size.
/// </remarks>
internal static class SyntheticOodSets
{
    /// <summary>The names <see cref="Create"/> accepts, in the order reports list them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["noise", "constant", "inverted", "hflip", "vflip", "blur"];

    /// <summary>Whether <paramref name="name"/> is one of <see cref="Names"/>.</summary>
    public static bool IsName(string name) => ((IList<string>)Names).Contains(name);

    /// <summary>Builds the synthetic set <paramref name="name"/> from <paramref name="source"/>.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="source">The images to transform (for noise and constant, only their count, size and labels).</param>
    /// <param name="seed">The seed of the random sets.</param>
    /// <returns>A new dataset of the same count and size.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a synthetic set's name.</exception>
    public static ImageDataset Create(string name, ImageDataset source, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(source);
        return name switch
        {
            "noise" => Noise(source, seed),
            "constant" => Constant(source, seed),
            "inverted" => Inverted(source),
            "hflip" => HorizontalFlip(source),
            "vflip" => VerticalFlip(source),
            "blur" => Blur(source),
            _ => throw new ArgumentException($"Unknown synthetic OOD set '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>Every pixel uniform on 0…255, independently.</summary>
    public static ImageDataset Noise(ImageDataset source, int seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        var pixels = new byte[source.Pixels.Length];
        new Random(seed).NextBytes(pixels);
        return With(source, $"uniform noise ({source.Count} images, seed {seed})", pixels);
    }

    /// <summary>Each image one gray level, uniform on 0…255.</summary>
    public static ImageDataset Constant(ImageDataset source, int seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        var random = new Random(seed);
        var size = source.Height * source.Width;
        var pixels = new byte[source.Pixels.Length];
        for (int i = 0; i < source.Count; i++)
        {
            pixels.AsSpan(i * size, size).Fill((byte)random.Next(256));
        }

        return With(source, $"constant images ({source.Count}, seed {seed})", pixels);
    }

    /// <summary>255 − x for every pixel.</summary>
    public static ImageDataset Inverted(ImageDataset source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var input = source.Pixels.Span;
        var pixels = new byte[input.Length];
        for (int i = 0; i < input.Length; i++)
        {
            pixels[i] = (byte)(255 - input[i]);
        }

        return With(source, $"inverted {source.Name}", pixels);
    }

    /// <summary>Each image mirrored left to right.</summary>
    public static ImageDataset HorizontalFlip(ImageDataset source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Remap(source, $"h-flipped {source.Name}", (row, column, height, width) => (row * width) + (width - 1 - column));
    }

    /// <summary>Each image mirrored top to bottom.</summary>
    public static ImageDataset VerticalFlip(ImageDataset source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Remap(source, $"v-flipped {source.Name}", (row, column, height, width) => ((height - 1 - row) * width) + column);
    }

    /// <summary>A 3×3 box blur (edges replicated), rounded to the nearest gray level.</summary>
    public static ImageDataset Blur(ImageDataset source)
    {
        ArgumentNullException.ThrowIfNull(source);
        int height = source.Height, width = source.Width, size = height * width;
        var input = source.Pixels.Span;
        var pixels = new byte[input.Length];
        for (int n = 0; n < source.Count; n++)
        {
            var image = input.Slice(n * size, size);
            for (int row = 0; row < height; row++)
            {
                for (int column = 0; column < width; column++)
                {
                    int sum = 0;
                    for (int dy = -1; dy <= 1; dy++)
                    {
                        var r = Math.Clamp(row + dy, 0, height - 1);
                        for (int dx = -1; dx <= 1; dx++)
                        {
                            sum += image[(r * width) + Math.Clamp(column + dx, 0, width - 1)];
                        }
                    }

                    pixels[(n * size) + (row * width) + column] = (byte)((sum + 4) / 9);
                }
            }
        }

        return With(source, $"blurred (3×3 box) {source.Name}", pixels);
    }

    private static ImageDataset Remap(ImageDataset source, string name, Func<int, int, int, int, int> sourceIndex)
    {
        int height = source.Height, width = source.Width, size = height * width;
        var input = source.Pixels.Span;
        var pixels = new byte[input.Length];
        for (int n = 0; n < source.Count; n++)
        {
            for (int row = 0; row < height; row++)
            {
                for (int column = 0; column < width; column++)
                {
                    pixels[(n * size) + (row * width) + column] = input[(n * size) + sourceIndex(row, column, height, width)];
                }
            }
        }

        return With(source, name, pixels);
    }

    private static ImageDataset With(ImageDataset source, string name, byte[] pixels) =>
        new(name, source.Height, source.Width, pixels, source.Labels.Span);
}
