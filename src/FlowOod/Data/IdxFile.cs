using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;

namespace FlowOod.Data;

/// <summary>
/// Reads and writes unsigned-byte IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
/// </summary>
/// <remarks>
/// <para>An IDX file is two zero bytes, a type code byte (0x08 for unsigned bytes), a rank byte, one big-endian
/// 32-bit size per dimension, and then the elements in row-major order. FlowOod reads ranks 1 to 4 of type 0x08.</para>
/// <para>The reader treats the header as untrusted: it checks every dimension, the element count and, when the length
/// of the input is known, that the data fits it before allocating anything, so a corrupt or hostile header fails fast
/// with an <see cref="IdxFormatException"/> instead of a huge allocation. Input that starts with the gzip magic bytes
/// 0x1F 0x8B is decompressed.</para>
/// </remarks>
public static class IdxFile
{
    private const byte UnsignedByteType = 0x08;
    private const int MaxRank = 4;

    // Deflate expands at most about 1032:1; anything claiming more than this ratio is corrupt.
    private const long MaxGzipExpansion = 1100;

    // Without a trusted size, the data buffer starts at this size and doubles as data actually arrives.
    private const int InitialUnverifiedCapacity = 1 << 20;

    // The largest element count read or written: the largest byte array .NET can allocate.
    private static readonly long MaxElements = Array.MaxLength;

    /// <summary>Reads an IDX file, raw or gzip-compressed.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The dimensions and elements.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IdxFormatException">The file is not a valid unsigned-byte IDX file; the message says why.</exception>
    public static IdxData Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Read(stream, path);
    }

    /// <summary>Reads an IDX file, raw or gzip-compressed, from the current position of a stream to its end.</summary>
    /// <param name="stream">The readable stream; it is left open. When it is seekable its length is used to reject
    /// headers that do not fit it before any allocation.</param>
    /// <param name="sourceName">The name used for the input in error messages, usually its path.</param>
    /// <returns>The dimensions and elements.</returns>
    /// <exception cref="IdxFormatException">The input is not a valid unsigned-byte IDX file; the message says why.</exception>
    public static IdxData Read(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        if (!stream.CanRead)
        {
            throw new ArgumentException($"The stream for '{sourceName}' is not readable.", nameof(stream));
        }

        long? length = stream.CanSeek ? stream.Length - stream.Position : null;
        var magic = new byte[2];
        var sniffed = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        var prefixed = new PrefixedStream(magic[..sniffed], stream);
        if (sniffed < 2 || magic[0] != 0x1F || magic[1] != 0x8B)
        {
            return ReadContent(prefixed, sourceName, rawLength: length, gzipLength: null);
        }

        try
        {
            using var gzip = new GZipStream(prefixed, CompressionMode.Decompress, leaveOpen: true);
            return ReadContent(gzip, sourceName, rawLength: null, gzipLength: length);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new IdxFormatException($"IDX file '{sourceName}' is not a valid gzip stream: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes an unsigned-byte IDX file atomically: the bytes go to a temporary file in the same folder, which then
    /// replaces <paramref name="path"/>, so a failure never leaves a half-written file at <paramref name="path"/>.
    /// </summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="dimensions">One to four positive dimensions, outermost first.</param>
    /// <param name="data">The elements in row-major order; exactly the product of <paramref name="dimensions"/>.</param>
    /// <param name="gzip">Whether to gzip-compress the file (conventionally named <c>*.gz</c>).</param>
    /// <exception cref="ArgumentException">The dimensions are invalid or do not match the data length.</exception>
    public static void Write(string path, IReadOnlyList<int> dimensions, ReadOnlySpan<byte> data, bool gzip)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(dimensions);
        int[] dims = [.. dimensions];

        if (dims.Length is < 1 or > MaxRank || Array.Exists(dims, d => d <= 0))
        {
            throw new ArgumentException(
                $"An IDX file needs 1 to {MaxRank} positive dimensions, got {Format(dims)}.", nameof(dimensions));
        }

        var count = ElementCount(dims);
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"The dimensions {Format(dims)} need {(count > MaxElements ? $"more than {MaxElements}" : count)} bytes of data, got {data.Length}.",
                nameof(data));
        }

        var fullPath = Path.GetFullPath(path);
        var temporary = Path.Combine(
            Path.GetDirectoryName(fullPath) ?? ".", $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                if (gzip)
                {
                    using var compressor = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
                    WriteContent(compressor, dims, data);
                }
                else
                {
                    WriteContent(file, dims, data);
                }

                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static IdxData ReadContent(Stream content, string name, long? rawLength, long? gzipLength)
    {
        var head = new byte[4];
        var got = content.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (got < head.Length)
        {
            throw Problem(name, $"the header is truncated: the input ends after {got} bytes; an IDX header needs at least 8");
        }

        if (head[0] != 0 || head[1] != 0)
        {
            throw Problem(
                name,
                $"bad magic number: it starts with 0x{head[0]:X2} 0x{head[1]:X2}, but an IDX file starts with 0x00 0x00 (or 0x1F 0x8B when gzip-compressed)");
        }

        if (head[2] != UnsignedByteType)
        {
            throw Problem(
                name,
                $"type code 0x{head[2]:X2} ({TypeName(head[2])}) is not supported; FlowOod reads unsigned-byte IDX files (type code 0x08)");
        }

        var rank = head[3];
        if (rank is < 1 or > MaxRank)
        {
            throw Problem(name, $"rank {rank} is not supported; FlowOod reads IDX files with 1 to {MaxRank} dimensions");
        }

        var headerLength = 4 + (4 * rank);
        var sizes = new byte[4 * rank];
        got = content.ReadAtLeast(sizes, sizes.Length, throwOnEndOfStream: false);
        if (got < sizes.Length)
        {
            throw Problem(
                name,
                $"the header is truncated: it declares {rank} dimensions and so needs {headerLength} bytes, but the input ends after {4 + got}");
        }

        var dims = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(sizes.AsSpan(4 * i));
            if (dims[i] <= 0)
            {
                throw Problem(name, $"dimension {i} of {rank} is {dims[i]}; every dimension must be positive");
            }
        }

        var count = ElementCount(dims);
        if (count > MaxElements)
        {
            throw Problem(name, $"the header declares dimensions {Format(dims)}, more than the {MaxElements} elements FlowOod can hold");
        }

        if (rawLength is { } actual && actual != headerLength + count)
        {
            var expected = headerLength + count;
            throw Problem(
                name,
                actual < expected
                    ? $"the data is truncated: dimensions {Format(dims)} need {headerLength} + {count} = {expected} bytes, but the file has {actual}"
                    : $"it has {actual - expected} bytes of trailing data: dimensions {Format(dims)} need {headerLength} + {count} = {expected} bytes, but the file has {actual}");
        }

        if (gzipLength is { } compressed && count > MaxGzipExpansion * compressed)
        {
            throw Problem(
                name,
                $"the header declares dimensions {Format(dims)} = {count} bytes of data, more than a {compressed}-byte gzip stream can hold; the header is corrupt");
        }

        var data = ReadPayload(content, (int)count, rawLength is not null, name, dims);
        if (content.ReadByte() != -1)
        {
            throw Problem(
                name,
                $"it has trailing data: more bytes follow the {count} bytes of data that dimensions {Format(dims)} declare");
        }

        return new IdxData(dims, data);
    }

    private static byte[] ReadPayload(Stream content, int count, bool countIsVerified, string name, int[] dims)
    {
        var buffer = new byte[countIsVerified ? count : Math.Min(count, InitialUnverifiedCapacity)];
        var filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            }

            var n = content.Read(buffer, filled, buffer.Length - filled);
            if (n == 0)
            {
                throw Problem(
                    name,
                    $"the data is truncated: dimensions {Format(dims)} need {count} bytes of data after the header, but the input ends after {filled}");
            }

            filled += n;
        }

        return buffer;
    }

    private static void WriteContent(Stream output, int[] dims, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[4 + (4 * MaxRank)];
        header[..4].Clear();
        header[2] = UnsignedByteType;
        header[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(header[(4 + (4 * i))..], dims[i]);
        }

        output.Write(header[..(4 + (4 * dims.Length))]);
        output.Write(data);
    }

    /// <summary>The product of positive dimensions, checked; stops growing once past <see cref="MaxElements"/>.</summary>
    private static long ElementCount(int[] dims)
    {
        long count = 1;
        foreach (var d in dims)
        {
            count = checked(count * d);
            if (count > MaxElements)
            {
                return count;
            }
        }

        return count;
    }

    private static string TypeName(byte typeCode) => typeCode switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an IDX type",
    };

    private static string Format(int[] dims) => "[" + string.Join(", ", dims) + "]";

    private static IdxFormatException Problem(string name, string problem) => new($"IDX file '{name}': {problem}.");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more than a leftover temporary file.
        }
    }
}
