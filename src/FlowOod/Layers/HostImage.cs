using System;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// One image's feature map in the layout <see cref="HostConv"/> computes on: channels last, with a one-pixel zero border
/// and zero slack after the last row, so that a 3×3 convolution reads its neighbours without bounds checks.
/// </summary>
/// <remarks>
/// <para>Pixel (y, x) of the image, channel c, is at <c>((y + 1)·PaddedWidth + x + 1)·Channels + c</c>, with
/// <c>PaddedWidth = Width + 2</c>. Rows 0 and Height + 1, columns 0 and Width + 1, and the slack of
/// <see cref="SlackPixels"/> pixels after row Height + 1 are the border; a convolution reads them as zeros, so they must
/// be zero whenever the image is an input (<see cref="ClearBorder"/>; a convolution may write scratch values into its
/// output's border and slack, see <see cref="HostConv.Run(HostImage, HostImage, bool, int)"/>).</para>
/// <para>A plain managed array: nothing here owns native memory.</para>
/// </remarks>
internal sealed class HostImage
{
    /// <summary>Creates a zero image of <paramref name="channels"/> × <paramref name="height"/> × <paramref name="width"/>.</summary>
    /// <param name="channels">Channels per pixel (the stride between pixels), ≥ 1.</param>
    /// <param name="height">Rows, ≥ 1.</param>
    /// <param name="width">Columns, ≥ 1.</param>
    public HostImage(int channels, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        long elements = ElementsFor(channels, height, width);
        if (elements > MaxElements)
        {
            throw new ArgumentException(
                $"An image of {channels} × {height} × {width} needs {elements} floats with its border; at most {MaxElements} are allowed here.",
                nameof(channels));
        }

        Channels = channels;
        Height = height;
        Width = width;
        Data = new float[elements];
    }

    /// <summary>The most floats an image may hold, border included (1 GiB).</summary>
    public const long MaxElements = 1L << 28;

    /// <summary>Floats an image of this size holds, border and slack included.</summary>
    public static long ElementsFor(int channels, int height, int width) => (((long)(height + 2) * (width + 2)) + SlackFor(width)) * channels;

    /// <summary>Channels per pixel: the stride, in floats, between neighbouring pixels.</summary>
    public int Channels { get; }

    /// <summary>Rows of the image (without the border).</summary>
    public int Height { get; }

    /// <summary>Columns of the image (without the border).</summary>
    public int Width { get; }

    /// <summary>Columns including the border, Width + 2: the stride, in pixels, between rows.</summary>
    public int PaddedWidth => Width + 2;

    /// <summary>Zero pixels after the last border row, read (as zeros) by the last blocks of a convolution.</summary>
    public int SlackPixels => SlackFor(Width);

    /// <summary>The pixels, border included, in the layout the type's remarks give.</summary>
    public float[] Data { get; }

    /// <summary>The offset, in floats, of pixel (<paramref name="y"/>, <paramref name="x"/>) of the image (0-based, without the border).</summary>
    public int Offset(int y, int x) => (((y + 1) * PaddedWidth) + x + 1) * Channels;

    /// <summary>Zeroes the border rows, the border columns and the slack (the pixels a convolution reads as padding).</summary>
    public void ClearBorder()
    {
        int rowFloats = PaddedWidth * Channels;
        Array.Clear(Data, 0, rowFloats + Channels);
        for (int y = 1; y < Height; y++)
        {
            // Column Width + 1 of row y and column 0 of row y + 1 are adjacent.
            Array.Clear(Data, ((y * PaddedWidth) + Width + 1) * Channels, 2 * Channels);
        }

        int tail = ((Height * PaddedWidth) + Width + 1) * Channels;
        Array.Clear(Data, tail, Data.Length - tail);
    }

    /// <summary>Copies a float32 CPU image <c>[1, Channels, Height, Width]</c> (any strides) into the interior and zeroes the border.</summary>
    /// <param name="image">The image; its shape must match this one's.</param>
    public void CopyFrom(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckShape(image, nameof(image));
        using var scope = NewDisposeScope();
        using var nhwc = image.permute(0, 2, 3, 1).contiguous();
        var pixels = MemoryMarshal.Cast<byte, float>(nhwc.bytes);
        int rowLength = Width * Channels;
        for (int y = 0; y < Height; y++)
        {
            pixels.Slice(y * rowLength, rowLength).CopyTo(Data.AsSpan(Offset(y, 0), rowLength));
        }

        ClearBorder();
    }

    /// <summary>The interior's first <paramref name="channels"/> channels as a new float32 CPU tensor <c>[1, channels, Height, Width]</c>, channels last.</summary>
    /// <param name="channels">How many of the leading channels to copy out, 1 ≤ channels ≤ Channels.</param>
    public Tensor ToTensor(int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(channels, Channels);
        var values = new float[Height * Width * channels];
        CopyInteriorTo(values, channels);
        using var nhwc = tensor(values, [1, Height, Width, channels]);
        return nhwc.permute(0, 3, 1, 2);
    }

    /// <summary>Copies the interior's first <paramref name="channels"/> channels, pixel by pixel without the border
    /// (<c>[Height, Width, channels]</c>, channels last), into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least Height·Width·<paramref name="channels"/> floats.</param>
    /// <param name="channels">How many of the leading channels to copy out, 1 ≤ channels ≤ Channels.</param>
    public void CopyInteriorTo(Span<float> destination, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(channels, Channels);
        if (destination.Length < Height * Width * channels)
        {
            throw new ArgumentException($"Needs {Height * Width * channels} floats, got {destination.Length}.", nameof(destination));
        }

        for (int y = 0; y < Height; y++)
        {
            for (int x = 0; x < Width; x++)
            {
                Data.AsSpan(Offset(y, x), channels).CopyTo(destination.Slice(((y * Width) + x) * channels, channels));
            }
        }
    }

    private static int SlackFor(int width) => (2 * (width + 2)) + HostConv.MaxPixelsPerBlock + 2;

    private void CheckShape(Tensor image, string parameterName)
    {
        var shape = image.Sizes();
        if (image.dtype != ScalarType.Float32 || image.device_type != DeviceType.CPU || shape.Length != 4 || shape[0] != 1
            || shape[1] != Channels || shape[2] != Height || shape[3] != Width)
        {
            throw new ArgumentException(
                $"Expected a float32 CPU image [1, {Channels}, {Height}, {Width}], got {image.dtype} on {image.device_type} [{string.Join(", ", shape)}].",
                parameterName);
        }
    }
}
