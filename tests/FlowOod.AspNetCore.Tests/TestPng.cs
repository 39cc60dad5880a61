using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;

namespace FlowOod.AspNetCore.Tests;

// A tiny PNG writer for the decoder tests: chosen filters per row, any IHDR fields, hand-made chunk sequences.
internal static class TestPng
{
    public static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static byte[] Chunk(string type, byte[] data)
    {
        var t = Encoding.ASCII.GetBytes(type);
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        t.CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), System.IO.Hashing.Crc32.HashToUInt32(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    public static byte[] Ihdr(int width, int height, byte bitDepth = 8, byte colourType = 0, byte interlace = 0)
    {
        var h = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(h, width);
        BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4), height);
        h[8] = bitDepth;
        h[9] = colourType;
        h[12] = interlace;
        return Chunk("IHDR", h);
    }

    public static byte[] Zlib(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var z = new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(raw);
        }

        return output.ToArray();
    }

    public static byte[] File(params byte[][] chunks) => [.. Signature, .. chunks.SelectMany(c => c)];

    // Interleaved 8-bit pixels → filtered scanlines, filter type filterOf(row) on each row.
    public static byte[] Scanlines(byte[] interleaved, int width, int height, int bpp, Func<int, byte> filterOf)
    {
        int row = width * bpp;
        var raw = new byte[height * (row + 1)];
        for (int y = 0; y < height; y++)
        {
            byte f = filterOf(y);
            raw[y * (row + 1)] = f;
            for (int i = 0; i < row; i++)
            {
                int x = interleaved[(y * row) + i];
                int a = i >= bpp ? interleaved[(y * row) + i - bpp] : 0;
                int b = y > 0 ? interleaved[((y - 1) * row) + i] : 0;
                int c = i >= bpp && y > 0 ? interleaved[((y - 1) * row) + i - bpp] : 0;
                int predictor = f switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) >> 1,
                    4 => Paeth(a, b, c),
                    _ => 0,
                };
                raw[(y * (row + 1)) + 1 + i] = (byte)(x - predictor);
            }
        }

        return raw;
    }

    public static byte[] Image(byte[] interleaved, int width, int height, byte colourType, Func<int, byte>? filterOf = null)
    {
        int bpp = colourType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => 1 };
        var raw = Scanlines(interleaved, width, height, bpp, filterOf ?? (_ => 0));
        return File(Ihdr(width, height, colourType: colourType), Chunk("IDAT", Zlib(raw)), Chunk("IEND", []));
    }

    public static byte[] Random(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
