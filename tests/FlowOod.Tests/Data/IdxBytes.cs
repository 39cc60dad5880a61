using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace FlowOod.Tests.Data;

// Hand-built IDX bytes, independent of IdxFile.Write.
internal static class IdxBytes
{
    public static byte[] Header(byte typeCode, params int[] dims)
    {
        var header = new byte[4 + (4 * dims.Length)];
        header[2] = typeCode;
        header[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + (4 * i)), dims[i]);
        }

        return header;
    }

    public static byte[] File(int[] dims, byte[] data) => [.. Header(0x08, dims), .. data];

    public static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)((i * 37) + 11)).ToArray();

    public static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(raw);
        }

        return buffer.ToArray();
    }
}
