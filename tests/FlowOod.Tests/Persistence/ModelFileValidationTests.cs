using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Loading must reject every damaged, foreign or hostile file with a ModelFormatException that names the problem, before
// it allocates what the file declares; never a crash, a hang, an out-of-memory or a half-loaded model.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ModelFileValidationTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly byte[] valid;

    public ModelFileValidationTests()
    {
        using var scope = NewDisposeScope();
        var (flow, _) = ModelFileTests.Prepared("RealNvp");
        var path = folder.Combine("valid.flowood");
        ModelFile.Save(flow, path);
        valid = File.ReadAllBytes(path);
        flow.Dispose();
    }

    public void Dispose() => folder.Dispose();

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        var act = () => ModelFile.LoadFlow(folder.Combine("absent.flowood"));
        act.Should().Throw<FileNotFoundException>().WithMessage("*absent.flowood*does not exist*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(55)]
    public void Load_TooShortFile_SaysTruncated(int length) =>
        Rejects(valid[..length], "*shorter than the 56 bytes*");

    [Fact]
    public void Load_ForeignFile_SaysNotAModelFile()
    {
        Rejects(Encoding.UTF8.GetBytes(new string('x', 100)), "*does not start with the FlowOod magic bytes*not a FlowOod model file*");
        Rejects([0x89, (byte)'P', (byte)'N', (byte)'G', .. valid[4..]], "*magic bytes*");
    }

    [Fact]
    public void Load_NewerFormatVersion_RefusesWithUpgradeMessage() =>
        Rejects(ModelFileSurgery.Open(valid).Build(version: 2), "*format version 2, newer than version 1*upgrade FlowOod*");

    [Fact]
    public void Load_VersionZero_SaysCorrupted() =>
        Rejects(ModelFileSurgery.Open(valid).Build(version: 0), "*version 0*");

    [Theory]
    [InlineData(0u)]
    [InlineData(uint.MaxValue)]
    public void Load_ImpossibleHeaderLength_IsRefusedBeforeReading(uint headerLength) =>
        Rejects(ModelFileSurgery.Open(valid).Build(headerLength: headerLength), "*-byte header*");

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    public void Load_HugeDeclaredDataLength_IsRefusedBeforeReading(ulong dataLength) =>
        Rejects(ModelFileSurgery.Open(valid).Build(dataLength: dataLength), "*do not add up to the file's*");

    [Fact]
    public void Load_TruncatedOrExtended_SaysSizesDoNotAddUp()
    {
        Rejects(valid[..^1], "*do not add up*");
        Rejects(valid[..(valid.Length / 2)], "*do not add up*");
        Rejects([.. valid, 0], "*do not add up*");
    }

    [Fact]
    public void Load_FlippedByteInTensorData_FailsTheChecksum()
    {
        var corrupted = (byte[])valid.Clone();
        corrupted[^100] ^= 0x10;
        Rejects(corrupted, "*SHA-256 checksum does not match*");
    }

    [Fact]
    public void Load_HeaderNotJson_SaysSo()
    {
        var surgery = ModelFileSurgery.Open(valid);
        surgery.Header = "{ not json";
        Rejects(surgery.Build(), "*header is not valid JSON*");
        surgery.Header = "[1, 2]";
        Rejects(surgery.Build(), "*header is not a JSON object*");
    }

    [Fact]
    public void Load_DeeplyNestedHeader_IsRejectedNotOverflowed()
    {
        var surgery = ModelFileSurgery.Open(valid);
        surgery.Header = new string('[', 100_000) + new string(']', 100_000);
        Rejects(surgery.Build(), "*not valid JSON*");
    }

    [Fact]
    public void Load_TensorClaimingHugeShape_IsRefusedBeforeAllocation()
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        header["tensors"]![0]!["shape"] = new JsonArray(50_000, 50_000);
        surgery.HeaderJson = header;
        Rejects(surgery.Build(), "*more elements than the file holds bytes*");
    }

    [Fact]
    public void Load_TensorLengthNotMatchingShape_SaysSo()
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        header["tensors"]![0]!["shape"] = new JsonArray(3);
        surgery.HeaderJson = header;
        Rejects(surgery.Build(), "*declares shape [3]*but a length of*");
    }

    [Fact]
    public void Load_HugeArchitecture_IsRefusedWithoutAllocatingIt()
    {
        // 60,000-wide st-networks would need ~10^11 parameters; the meta-device check sees the mismatch with the file
        // before any real tensor is allocated.
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        header["flows"]![0]!["options"]!["width"] = 60_000;
        surgery.HeaderJson = header;
        Rejects(surgery.Build(), "*is stored as float32 [4, 2, 3, 3] but the architecture needs float32 [60000, 2, 3, 3]*");
    }

    [Fact]
    public void Load_OutOfRangeOption_NamesTheHeaderValue()
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        header["flows"]![0]!["options"]!["blocks"] = -3;
        surgery.HeaderJson = header;
        Rejects(surgery.Build(), "*bad.flowood*$.flows[0].options.blocks = -3 is outside*");
    }

    [Fact]
    public void Load_MissingOrUnknownPieces_NameThem()
    {
        Rejects(Mutated(h => h["flows"]![0]!.AsObject().Remove("eventShape")), "*eventShape is missing*");
        Rejects(Mutated(h => h["flows"]![0]!["builder"] = "ResNet50"), "*custom factory \"ResNet50\"*");
        Rejects(Mutated(h => h["flows"]![0]!["options"]!["spatialMask"]!["type"] = "spiral"), "*unknown mask \"spiral\"*");
        Rejects(Mutated(h => h["flows"]![0]!["eventShape"] = new JsonArray(1, 7, 7)), "*do not build a flow for shape [1, 7, 7]*divisible*");
        Rejects(Mutated(h => h["flows"]![0]!["dtype"] = "int8"), "*dtype \"int8\" is not float32 or float64*");
        Rejects(Mutated(h => h["kind"] = "detector"), "*holds a detector, not a flow*");
        Rejects(Mutated(h => h["format"] = "SomethingElse"), "*names the format \"SomethingElse\"*");
        Rejects(Mutated(h => h["content"]!["flow"] = 3), "*refers to flow 3*");
        Rejects(Mutated(h => h["flows"]![0]!["options"]!["spatialMask"] = new JsonObject { ["type"] = "half", ["axis"] = "" }), "*axis \"\" is not one of*");
        Rejects(Mutated(h => h["flows"]![0]!["options"]!["spatialMask"] = new JsonObject { ["type"] = "half", ["axis"] = "1" }), "*axis \"1\" is not one of*");
    }

    [Fact]
    public void Load_ExtraOrMissingTensors_AreRefused()
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        var table = header["tensors"]!.AsArray();
        var last = table[^1]!.AsObject();
        var offset = last["offset"]!.GetValue<long>() + last["length"]!.GetValue<long>();
        table.Add(new JsonObject { ["name"] = "flows.0.extra", ["dtype"] = "float64", ["shape"] = new JsonArray(1), ["offset"] = offset, ["length"] = 8 });
        surgery.HeaderJson = header;
        surgery.Data = [.. surgery.Data, .. new byte[8]];
        Rejects(surgery.Build(), "*stores 'flows.0.extra', which the architecture does not have*");

        var renamed = Mutated(h => h["tensors"]![0]!["name"] = "flows.0.renamed");
        Rejects(renamed, "*does not store*");
    }

    [Fact]
    public void Load_BoolBufferWithByteOtherThanZeroOrOne_IsRefused()
    {
        var surgery = ModelFileSurgery.Open(valid);
        var entry = surgery.HeaderJson["tensors"]!.AsArray().First(t => t!["dtype"]!.GetValue<string>() == "bool")!;
        surgery.Data[entry["offset"]!.GetValue<long>()] = 7;
        Rejects(surgery.Build(), "*bool tensor holds the byte 7*");
    }

    [Fact]
    public void Load_AboveMaxFileBytes_IsRefused()
    {
        var path = folder.Write("big.flowood", valid);
        var act = () => ModelFile.LoadFlow(path, new ModelLoadOptions { MaxFileBytes = 100 });
        act.Should().Throw<ModelFormatException>().WithMessage("*above the limit of 100 bytes*");
    }

    // The mutation test of the issue: many randomly corrupted copies of a real model file, both with the checksum left
    // as is (it must catch them) and with a recomputed checksum (the parser and the architecture checks must). Every load
    // either succeeds (a harmless mutation) or throws ModelFormatException; nothing else, nothing slow.
    [Fact(Timeout = 300_000)]
    public async Task Load_ManyRandomCorruptions_NeverCrashHangOrAllocateHugely()
    {
        await Task.Yield();
        var rng = new Random(2026);
        var outcomes = new Dictionary<string, int>();
        var path = folder.Combine("mutant.flowood");
        var header = ModelFileSurgery.Open(valid).Header;
        for (int i = 0; i < 400; i++)
        {
            TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
            var mutant = i % 2 == 0 ? MutateBytes(valid, rng) : MutateHeader(header, rng);
            File.WriteAllBytes(path, mutant);
            var before = GC.GetTotalMemory(false);
            string outcome;
            try
            {
                using var flow = ModelFile.LoadFlow(path);
                outcome = "loaded";
            }
            catch (ModelFormatException)
            {
                outcome = "rejected";
            }

            GC.GetTotalMemory(false).Should().BeLessThan(before + (256L << 20), "mutant {0} must not allocate what it claims", i);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        outcomes.GetValueOrDefault("rejected").Should().BeGreaterThan(300, "most mutations break the file");
        outcomes.Keys.Should().BeSubsetOf(["loaded", "rejected"]);
    }

    private static byte[] MutateBytes(byte[] file, Random rng)
    {
        var bytes = (byte[])file.Clone();
        switch (rng.Next(4))
        {
            case 0:
                for (int k = rng.Next(1, 8); k > 0; k--)
                {
                    bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                }

                return bytes;
            case 1:
                return bytes[..rng.Next(bytes.Length)];
            case 2:
                var at = rng.Next(bytes.Length);
                return [.. bytes[..at], (byte)rng.Next(256), .. bytes[at..]];
            default:
                bytes[rng.Next(24)] = (byte)rng.Next(256);
                return bytes;
        }
    }

    private byte[] MutateHeader(string header, Random rng)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var text = new StringBuilder(header);
        for (int k = rng.Next(1, 4); k > 0; k--)
        {
            var at = rng.Next(text.Length);
            switch (rng.Next(5))
            {
                case 0:
                    text.Remove(at, 1);
                    break;
                case 1:
                    text.Insert(at, "0123456789-.e\"{}[],:x"[rng.Next(21)]);
                    break;
                case 2:
                    if (char.IsDigit(text[at]))
                    {
                        text[at] = (char)('0' + rng.Next(10));
                    }

                    break;
                case 3:
                    if (char.IsDigit(text[at]))
                    {
                        text.Insert(at, rng.Next(1, 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
                default:
                    text[at] = (char)rng.Next(32, 127);
                    break;
            }
        }

        surgery.Header = text.ToString();
        return surgery.Build();
    }

    private byte[] Mutated(Action<JsonObject> edit)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        edit(header);
        surgery.HeaderJson = header;
        return surgery.Build();
    }

    private void Rejects(byte[] file, string message)
    {
        var path = folder.Write("bad.flowood", file);
        var act = () => ModelFile.LoadFlow(path);
        act.Should().Throw<ModelFormatException>().WithMessage(message);
    }
}
