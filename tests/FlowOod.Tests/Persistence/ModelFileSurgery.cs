using System;
using System.Buffers.Binary;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace FlowOod.Tests.Persistence;

// Takes a model file apart and puts it back together with a correct checksum, so tests can reach the validation that
// runs after the checksum (a corrupted file with an intact checksum, or a hand-crafted one).
internal sealed class ModelFileSurgery
{
    private ModelFileSurgery(byte[] preamble, string header, byte[] data)
    {
        Preamble = preamble;
        Header = header;
        Data = data;
    }

    public byte[] Preamble { get; }

    public string Header { get; set; }

    public byte[] Data { get; set; }

    public JsonObject HeaderJson
    {
        get => (JsonObject)JsonNode.Parse(Header)!;
        set => Header = value.ToJsonString();
    }

    public static ModelFileSurgery Open(byte[] file)
    {
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(12));
        var dataLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16));
        return new ModelFileSurgery(
            file[..24],
            Encoding.UTF8.GetString(file, 24, headerLength),
            file.AsSpan(24 + headerLength, dataLength).ToArray());
    }

    // Raw header bytes to write instead of Header (e.g. invalid UTF-8, which a string cannot hold).
    public byte[]? RawHeader { get; set; }

    // The table entry of a tensor: where its bytes start in Data, and its dtype.
    public (int Offset, string Dtype, long Length) Tensor(string name)
    {
        var entry = HeaderJson["tensors"]!.AsArray().FirstOrDefault(t => t!["name"]!.GetValue<string>() == name)
            ?? throw new ArgumentException($"The file has no tensor '{name}'.", nameof(name));
        return ((int)entry["offset"]!.GetValue<long>(), entry["dtype"]!.GetValue<string>(), entry["length"]!.GetValue<long>());
    }

    // Overwrites element `index` of a float32 or float64 tensor, little-endian, as the writer stores it.
    public void SetElement(string name, int index, double value)
    {
        var (offset, dtype, _) = Tensor(name);
        switch (dtype)
        {
            case "float32":
                BinaryPrimitives.WriteSingleLittleEndian(Data.AsSpan(offset + (4 * index)), (float)value);
                break;
            case "float64":
                BinaryPrimitives.WriteDoubleLittleEndian(Data.AsSpan(offset + (8 * index)), value);
                break;
            default:
                throw new ArgumentException($"Tensor '{name}' is {dtype}, not floating.", nameof(name));
        }
    }

    // Rebuilds the file: the preamble's lengths follow the header and data unless overridden; the checksum is recomputed.
    public byte[] Build(uint? version = null, uint? headerLength = null, ulong? dataLength = null)
    {
        var header = RawHeader ?? Encoding.UTF8.GetBytes(Header);
        var preamble = (byte[])Preamble.Clone();
        if (version is { } v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(preamble.AsSpan(8), v);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(preamble.AsSpan(12), headerLength ?? (uint)header.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(preamble.AsSpan(16), dataLength ?? (ulong)Data.Length);
        return WithChecksum([.. preamble, .. header, .. Data]);
    }

    public static byte[] WithChecksum(byte[] body) => [.. body, .. SHA256.HashData(body)];
}
