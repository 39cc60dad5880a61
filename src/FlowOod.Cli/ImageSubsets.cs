using System;
using System.Collections.Generic;
using FlowOod.Data;

namespace FlowOod.Cli;

/// <summary>Named slices and class subsets of an <see cref="ImageDataset"/> (copies, so the source stays as it is).</summary>
internal static class ImageSubsets
{
    /// <summary>Images <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1, named <paramref name="name"/>.</summary>
    public static ImageDataset Slice(ImageDataset source, int start, int count, string name)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        count = Math.Min(count, source.Count - start);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var size = source.Height * source.Width;
        return new ImageDataset(name, source.Height, source.Width, source.Pixels.Span.Slice(start * size, count * size), source.Labels.Span.Slice(start, count));
    }

    /// <summary>The images whose label <paramref name="keep"/> accepts, in order, at most <paramref name="limit"/>.</summary>
    public static ImageDataset WhereLabel(ImageDataset source, Func<byte, bool> keep, string name, int limit = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(keep);
        var size = source.Height * source.Width;
        var pixels = new List<byte>();
        var labels = new List<byte>();
        var sourcePixels = source.Pixels.Span;
        var sourceLabels = source.Labels.Span;
        for (int i = 0; i < source.Count && labels.Count < limit; i++)
        {
            if (keep(sourceLabels[i]))
            {
                labels.Add(sourceLabels[i]);
                pixels.AddRange(sourcePixels.Slice(i * size, size));
            }
        }

        if (labels.Count == 0)
        {
            throw new ArgumentException($"No image of '{source.Name}' has a label the filter keeps.", nameof(keep));
        }

        return new ImageDataset(name, source.Height, source.Width, pixels.ToArray(), labels.ToArray());
    }
}
