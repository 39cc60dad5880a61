using System;
using System.Buffers.Binary;
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

    // Rebuilds the file: the preamble's lengths follow the header and data unless overridden; the checksum is recomputed.
    public byte[] Build(uint? version = null, uint? headerLength = null, ulong? dataLength = null)
    {
        var header = Encoding.UTF8.GetBytes(Header);
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
