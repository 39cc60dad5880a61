using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;

namespace FlowOod.Persistence;

/// <summary>
/// The byte layout of a FlowOod model file (format version 1), all integers little-endian:
/// <code>
/// offset 0   8 bytes   magic 0x89 'F' 'L' 'O' 'W' 'O' 'O' 'D'
/// offset 8   uint32    format version (1)
/// offset 12  uint32    H, length of the JSON header in bytes (≤ 16 MiB)
/// offset 16  uint64    T, length of the tensor data in bytes
/// offset 24  H bytes   UTF-8 JSON header (kind, content, flows, metadata, and the tensor table)
/// 24 + H     T bytes   tensor data, each tensor row-major at the offset the table gives, in table order
/// 24 + H + T 32 bytes  SHA-256 of every byte before it
/// </code>
/// Reading checks, in this order and before allocating anything that a file declares: the length against the minimum,
/// the magic, the version, H against its limit, 24 + H + T + 32 against the actual length, the checksum, the header's
/// UTF-8 and Unicode text, the JSON, and
/// every table entry (known dtype, shape product × element size = length, contiguous offsets summing to T).
/// </summary>
internal static class ModelContainer
{
    public const uint FormatVersion = 2;
    public const int PreambleSize = 24;
    public const int ChecksumSize = 32;
    public const int MaxHeaderBytes = 16 << 20;
    public const int MaxTensors = 1 << 20;
    private const int MaxRank = 8;

    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'F', (byte)'L', (byte)'O', (byte)'W', (byte)'O', (byte)'O', (byte)'D'];

    /// <summary>
    /// Writes header + tensors atomically: a temporary file in the same folder, flushed to disk, then renamed. Each
    /// tensor's bytes are produced only when it is written, so at most one tensor's copy is in managed memory at a time.
    /// </summary>
    public static void Write(string path, JsonObject header, IReadOnlyList<PendingTensor> tensors)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent folder.", nameof(path));
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Cannot save the model: the folder '{directory}' does not exist.");
        }

        var table = new JsonArray();
        long offset = 0;
        foreach (var tensor in tensors)
        {
            table.Add(new JsonObject
            {
                ["name"] = tensor.Name,
                ["dtype"] = TensorCodec.Name(tensor.Dtype),
                ["shape"] = Json.ToArray(tensor.Shape),
                ["offset"] = offset,
                ["length"] = tensor.Length,
            });
            offset += tensor.Length;
        }

        header["tensors"] = table;
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        if (headerBytes.Length > MaxHeaderBytes)
        {
            throw new NotSupportedException($"The model header would take {headerBytes.Length} bytes, more than the {MaxHeaderBytes} a model file allows.");
        }

        var temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                Span<byte> preamble = stackalloc byte[PreambleSize];
                Magic.CopyTo(preamble);
                BinaryPrimitives.WriteUInt32LittleEndian(preamble[8..], FormatVersion);
                BinaryPrimitives.WriteUInt32LittleEndian(preamble[12..], (uint)headerBytes.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(preamble[16..], (ulong)offset);
                Append(file, hash, preamble);
                Append(file, hash, headerBytes);
                foreach (var tensor in tensors)
                {
                    var data = tensor.Bytes();
                    if (data.LongLength != tensor.Length)
                    {
                        throw new InvalidOperationException($"Tensor '{tensor.Name}' changed size while the model was being saved.");
                    }

                    Append(file, hash, data);
                }

                file.Write(hash.GetHashAndReset());
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Opens and fully validates a model file; tensor data is read later, on demand.</summary>
    public static ModelFileReader Open(string path, long maxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path, e);
        }

        try
        {
            var reader = new ModelFileReader(path, file, ReadAndValidate(path, file, maxFileBytes));
            return reader;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (uint Version, JsonObject Header, Dictionary<string, TensorEntry> Tensors, long DataStart) ReadAndValidate(string path, FileStream file, long maxFileBytes)
    {
        var length = file.Length;
        if (length < PreambleSize + ChecksumSize)
        {
            throw Error(path, $"it is {length} bytes long, shorter than the {PreambleSize + ChecksumSize} bytes of an empty model file (truncated, or not a model file)");
        }

        Span<byte> preamble = stackalloc byte[PreambleSize];
        file.ReadExactly(preamble);
        if (!preamble[..8].SequenceEqual(Magic))
        {
            throw Error(path, $"it does not start with the FlowOod magic bytes (found {Convert.ToHexString(preamble[..8])}); it is not a FlowOod model file");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        if (version == 0)
        {
            throw Error(path, "format version 0 does not exist (corrupted file)");
        }

        if (version > FormatVersion)
        {
            throw Error(path, $"it was written in model format version {version}, newer than version {FormatVersion} that this FlowOod reads; upgrade FlowOod to load it");
        }

        var headerLength = BinaryPrimitives.ReadUInt32LittleEndian(preamble[12..]);
        var dataLength = BinaryPrimitives.ReadUInt64LittleEndian(preamble[16..]);
        if (headerLength == 0 || headerLength > MaxHeaderBytes)
        {
            throw Error(path, $"it declares a {headerLength}-byte header; headers are 1 to {MaxHeaderBytes} bytes");
        }

        if (length > maxFileBytes)
        {
            throw Error(path, $"it is {length} bytes long, above the limit of {maxFileBytes} bytes (ModelLoadOptions.MaxFileBytes)");
        }

        if (dataLength > (ulong)length || PreambleSize + (long)headerLength + (long)dataLength + ChecksumSize != length)
        {
            throw Error(path, $"its preamble declares {headerLength} header bytes and {dataLength} tensor bytes, which do not add up to the file's {length} bytes (truncated or extended)");
        }

        VerifyChecksum(path, file, length);
        file.Position = PreambleSize;
        var headerBytes = new byte[headerLength];
        file.ReadExactly(headerBytes);

        // The JSON reader checks structure, not the UTF-8 inside strings: invalid bytes would surface later, when a value
        // is read, as an InvalidOperationException. Check the text first, and name where it breaks.
        if (!Utf8.IsValid(headerBytes))
        {
            var at = FirstInvalidUtf8(headerBytes);
            throw Error(path, $"its header is not valid UTF-8 (at header byte {at}, file offset {PreambleSize + at})");
        }

        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes, documentOptions: new JsonDocumentOptions { MaxDepth = 32 }) as JsonObject
                ?? throw Error(path, "its header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"Model file '{path}' is invalid: its header is not valid JSON ({e.Message}).", e);
        }

        CheckStrings(path, header);

        var tensors = ReadTable(path, header, (long)dataLength);
        return (version, header, tensors, PreambleSize + headerLength);
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (offset < bytes.Length && Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        return offset;
    }

    // Valid UTF-8 can still spell invalid text with JSON escapes (a lone surrogate such as \ud800), which the reader also
    // reports only when the string is read. Reads every string and property name once (paths are built only to name a
    // bad one, so a header of a million tensors costs no extra strings).
    private static void CheckStrings(string path, JsonNode header)
    {
        try
        {
            ReadStrings(header);
        }
        catch (InvalidOperationException e)
        {
            throw new ModelFormatException($"Model file '{path}' is invalid: its header holds a string that is not valid Unicode, at or in {Locate(header, "$") ?? "$"} ({e.Message}).", e);
        }
    }

    private static void ReadStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, value) in o)
                {
                    ReadStrings(value);
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    ReadStrings(item);
                }

                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                v.GetValue<string>();
                break;
        }
    }

    private static string? Locate(JsonNode? node, string where)
    {
        switch (node)
        {
            case JsonObject o:
                try
                {
                    foreach (var (name, value) in o)
                    {
                        if (Locate(value, $"{where}.{name}") is { } found)
                        {
                            return found;
                        }
                    }
                }
                catch (InvalidOperationException)
                {
                    return where + " (a property name)";
                }

                return null;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    if (Locate(a[i], $"{where}[{i}]") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                try
                {
                    v.GetValue<string>();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    return where;
                }

            default:
                return null;
        }
    }

    private static void VerifyChecksum(string path, FileStream file, long length)
    {
        file.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var remaining = length - ChecksumSize;
        while (remaining > 0)
        {
            var read = file.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
            {
                throw Error(path, "it ended while its checksum was being computed (changed while reading?)");
            }

            hash.AppendData(buffer, 0, read);
            remaining -= read;
        }

        Span<byte> stored = stackalloc byte[ChecksumSize];
        file.ReadExactly(stored);
        if (!hash.GetHashAndReset().AsSpan().SequenceEqual(stored))
        {
            throw Error(path, "its SHA-256 checksum does not match its contents (the file is corrupted)");
        }
    }

    private static Dictionary<string, TensorEntry> ReadTable(string path, JsonObject header, long dataLength)
    {
        const string where = "$";
        var table = Json.Array(header, "tensors", where, MaxTensors);
        var entries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        long expectedOffset = 0;
        for (int i = 0; i < table.Count; i++)
        {
            var at = $"$.tensors[{i}]";
            var entry = table[i] as JsonObject ?? throw new HeaderException($"Header value {at} must be a JSON object.");
            var name = Json.String(entry, "name", at, 512);
            var dtypeName = Json.String(entry, "dtype", at, 16);
            if (!TensorCodec.TryParse(dtypeName, out var dtype, out var elementSize))
            {
                throw Error(path, $"tensor '{name}' has the unknown dtype \"{dtypeName}\"");
            }

            var shape = Json.LongArray(entry, "shape", at, MaxRank, 0, dataLength);
            var offset = Json.Long(entry, "offset", at, 0, dataLength);
            var bytes = Json.Long(entry, "length", at, 0, dataLength);
            long elements = 1;
            foreach (var dim in shape)
            {
                if (dim != 0 && elements > dataLength / dim)
                {
                    throw Error(path, $"tensor '{name}' declares shape {Shapes.Format(shape)}, more elements than the file holds bytes");
                }

                elements *= dim;
            }

            if (elements * elementSize != bytes)
            {
                throw Error(path, $"tensor '{name}' declares shape {Shapes.Format(shape)} of {dtypeName} ({elements * elementSize} bytes) but a length of {bytes} bytes");
            }

            if (offset != expectedOffset)
            {
                throw Error(path, $"tensor '{name}' starts at offset {offset}, expected {expectedOffset} (tensors are stored back to back)");
            }

            if (bytes > int.MaxValue)
            {
                throw Error(path, $"tensor '{name}' has {bytes} bytes; model files store tensors of at most {int.MaxValue} bytes");
            }

            if (!entries.TryAdd(name, new TensorEntry(name, dtype, shape, offset, bytes)))
            {
                throw Error(path, $"tensor '{name}' appears twice");
            }

            expectedOffset += bytes;
        }

        if (expectedOffset != dataLength)
        {
            throw Error(path, $"its tensors take {expectedOffset} bytes but the preamble declares {dataLength}");
        }

        return entries;
    }

    private static void Append(FileStream file, IncrementalHash hash, ReadOnlySpan<byte> bytes)
    {
        file.Write(bytes);
        hash.AppendData(bytes);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    internal static ModelFormatException Error(string path, string problem) => new($"Model file '{path}' is invalid: {problem}.");
}

/// <summary>A tensor to write: its table entry and a function producing its bytes (row-major, little-endian) when written.</summary>
internal sealed record PendingTensor(string Name, TorchSharp.torch.ScalarType Dtype, long[] Shape, long Length, Func<byte[]> Bytes);

/// <summary>One entry of the tensor table, validated against the file.</summary>
internal sealed record TensorEntry(string Name, TorchSharp.torch.ScalarType Dtype, long[] Shape, long Offset, long Length);
