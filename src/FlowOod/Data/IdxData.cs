using System;
using System.Collections.Generic;

namespace FlowOod.Data;

/// <summary>The contents of an unsigned-byte IDX file: its dimensions and its elements in row-major order.</summary>
public sealed class IdxData
{
    internal IdxData(int[] dimensions, byte[] data)
    {
        Dimensions = Array.AsReadOnly(dimensions);
        Data = data;
    }

    /// <summary>The dimensions from the header, outermost first; between one and four, all positive.</summary>
    public IReadOnlyList<int> Dimensions { get; }

    /// <summary>The elements in row-major order; its length is the product of <see cref="Dimensions"/>.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The number of items: the first dimension (images in an images file, labels in a labels file).</summary>
    public long Count => Dimensions[0];
}
