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
    private string lastMutation = string.Empty;

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
        Rejects(ModelFileSurgery.Open(valid).Build(version: 3), "*format version 3, newer than version 2*upgrade FlowOod*");

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
        // Regression: the message named neither the file nor the tensor ("A bool tensor holds the byte 7; ...").
        Rejects(surgery.Build(), $"Model file '*bad.flowood' is invalid: bool tensor '{entry["name"]!.GetValue<string>()}' holds the byte 7 at index 0*");
    }

    [Fact]
    public void Load_AboveMaxFileBytes_IsRefused()
    {
        var path = folder.Write("big.flowood", valid);
        var act = () => ModelFile.LoadFlow(path, new ModelLoadOptions { MaxFileBytes = 100 });
        act.Should().Throw<ModelFormatException>().WithMessage("*above the limit of 100 bytes*");
    }

    // The mutation test of the issue: many randomly corrupted copies of a real model file, with the checksum left as is
    // (it must catch them) and with a recomputed checksum, as a tool rewriting the file would leave it: header text edits,
    // header byte flips (invalid UTF-8) and tensor byte flips (NaN, infinities, huge values). Every load either throws
    // ModelFormatException or gives a flow that scores a fixed batch finitely; nothing else, nothing slow, nothing huge.
    [Fact(Timeout = 300_000)]
    public async Task Load_ManyRandomCorruptions_AreRejectedOrLoadAndScoreFinitely()
    {
        await Task.Yield();
        using (var original = ModelFile.LoadFlow(folder.Write("original.flowood", valid)))
        {
            LargestMagnitude(original).Should().BeLessThan(ExtremeMagnitude / 1000);
            ScoreFixedBatch(original).Should().OnlyContain(s => double.IsFinite(s));
        }

        var rng = new Random(2026);
        var outcomes = new Dictionary<string, int>();
        var problems = new List<string>();
        var path = folder.Combine("mutant.flowood");
        var header = ModelFileSurgery.Open(valid).Header;
        for (int i = 0; i < 600; i++)
        {
            TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
            var (kind, mutant) = (i % 4) switch
            {
                0 => ("bytes", MutateBytes(valid, rng)),
                1 => ("header text", MutateHeader(header, rng)),
                2 => ("header bytes", MutateHeaderBytes(rng)),
                _ => ("tensor bytes", MutateTensorBytes(rng)),
            };
            File.WriteAllBytes(path, mutant);
            var before = GC.GetTotalMemory(false);
            string outcome;
            try
            {
                using var flow = ModelFile.LoadFlow(path);
                outcome = kind + ": loaded";
                var largest = LargestMagnitude(flow);
                var scores = ScoreFixedBatch(flow);
                if (!double.IsFinite(largest))
                {
                    problems.Add($"mutant {i} ({kind}: {lastMutation}) loaded with a non-finite parameter or buffer");
                }
                else if (!scores.All(double.IsFinite))
                {
                    // A flip of a high exponent bit can turn a weight of 0.3 into 1e38: still a finite, well-formed value,
                    // so the file is a valid file of a model that overflows, which no loader check can tell from a
                    // merely large weight. Only such files may score non-finitely.
                    if (largest > ExtremeMagnitude)
                    {
                        outcome = kind + ": loaded an extreme finite weight";
                    }
                    else
                    {
                        problems.Add($"mutant {i} ({kind}: {lastMutation}) loaded with weights at most {largest} and scored {scores.First(s => !double.IsFinite(s))}");
                    }
                }
            }
            catch (ModelFormatException)
            {
                outcome = kind + ": rejected";
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                problems.Add($"mutant {i} ({kind}) threw {e.GetType().Name}: {e.Message}");
                continue;
            }

            GC.GetTotalMemory(false).Should().BeLessThan(before + (256L << 20), "mutant {0} must not allocate what it claims", i);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        problems.Should().BeEmpty();
        outcomes.GetValueOrDefault("tensor bytes: loaded an extreme finite weight").Should().BeLessThan(15, "few flips give an extreme weight");
        outcomes.GetValueOrDefault("bytes: rejected").Should().BeGreaterThan(140, "the checksum catches byte damage");
        outcomes.GetValueOrDefault("header bytes: rejected").Should().BeGreaterThan(100, "most header byte flips break the header");
        outcomes.GetValueOrDefault("tensor bytes: rejected").Should().BeGreaterThan(0, "some tensor flips give NaN or infinities");
        outcomes.GetValueOrDefault("tensor bytes: loaded").Should().BeGreaterThan(0, "most tensor flips give other finite weights");
    }

    // Far above any weight or statistic of the valid file (whose largest magnitude is checked to be below it).
    private const double ExtremeMagnitude = 1e6;

    private static double LargestMagnitude(NormalizingFlow flow)
    {
        using var scope = NewDisposeScope();
        return flow.state_dict().Values
            .Where(t => t.is_floating_point() && t.numel() > 0)
            .Select(t => t.abs().max().to_type(ScalarType.Float64).item<double>())
            .Append(0)
            .Max();
    }

    private static double[] ScoreFixedBatch(NormalizingFlow flow)
    {
        using var scope = NewDisposeScope();
        return new FlowOod.Scoring.NegativeLogLikelihoodScorer(flow, FlowOod.Scoring.LikelihoodUnit.Nats).Score(Golden.GoldenModels.Images(8, 0));
    }

    // Flips bits of, or overwrites, 1-4 bytes of the tensor data and recomputes the checksum.
    private byte[] MutateTensorBytes(Random rng)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var table = surgery.HeaderJson["tensors"]!.AsArray();
        var hit = new List<string>();
        for (int k = rng.Next(1, 5); k > 0; k--)
        {
            var at = rng.Next(surgery.Data.Length);
            surgery.Data[at] = rng.Next(2) == 0 ? (byte)(surgery.Data[at] ^ (1 << rng.Next(8))) : (byte)rng.Next(256);
            hit.Add(table.Last(t => t!["offset"]!.GetValue<long>() <= at)!["name"]!.GetValue<string>() + "@" + at);
        }

        lastMutation = string.Join(", ", hit);
        return surgery.Build();
    }

    // Flips bits of, or overwrites, 1-3 bytes of the header (often giving invalid UTF-8) and recomputes the checksum.
    private byte[] MutateHeaderBytes(Random rng)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var bytes = Encoding.UTF8.GetBytes(surgery.Header);
        for (int k = rng.Next(1, 4); k > 0; k--)
        {
            var at = rng.Next(bytes.Length);
            bytes[at] = rng.Next(2) == 0 ? (byte)(bytes[at] ^ (1 << rng.Next(8))) : (byte)rng.Next(128, 256);
        }

        surgery.RawHeader = bytes;
        return surgery.Build();
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
