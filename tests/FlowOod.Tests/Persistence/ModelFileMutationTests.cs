using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FlowOod.Tests.Persistence.Golden;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Every kind of model file (five flow builders, every scorer kind including the two-sided and the feature-space scorer,
// a detector, a typicality test, both kinds of gate, an embedding detector) under seeded damage: each load either throws an exception its load
// method documents for a damaged file, or gives a model that scores a fixed batch; never another exception, a hang, or a
// load that grows the process by more than MemoryBound. Runs alone (its collection is never run beside another), so the
// process's peak resident memory measures the case being loaded.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ModelFileMutationTests(ModelFileKinds kinds, ITestOutputHelper output) : IClassFixture<ModelFileKinds>, IDisposable
{
    private const int CasesPerKindAndMutation = 12;
    private const long MemoryBound = 256L << 20;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    public static TheoryData<string, int> GateInputShapeBombs => new() { { "gate-layer", 0 }, { "gate-layer", 2 }, { "gate-input", 0 }, { "gate-input", 2 } };

    // $.content.inputShape[i] = 268435457 made libtorch try to allocate 275 GB (index 0) or hang filling gigabytes (index 2).
    [Theory]
    [MemberData(nameof(GateInputShapeBombs))]
    public void Gate_InputShapeEntryOf268435457_IsRefusedBeforeAnythingIsAllocated(string kind, int index)
    {
        var file = ModelFileMutations.WithHeader(kinds[kind].Bytes, h => h["content"]!["inputShape"]![index] = 268435457);
        Outcome(kind, file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*$.content.inputShape*268435457*");
    }

    // $.flows[0].eventShape[0] = 268435456 (2^28, the largest event a flow file may declare) hung in the meta build of the
    // feature flow, whose masks are computed on the host.
    [Theory]
    [InlineData("scorer-feature-space")]
    [InlineData("gate-layer")]
    [InlineData("flow-tabular-realnvp")]
    [InlineData("flow-realnvp")]
    public void Flow_EventShapeOf268435456_IsRefusedBeforeTheFlowIsBuilt(string kind)
    {
        var file = ModelFileMutations.WithHeader(kinds[kind].Bytes, h => h["flows"]![0]!["eventShape"]![0] = 268435456);
        Outcome(kind, file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*$.flows[0].eventShape*");
    }

    // A flipped index of a coupling's channel list made scoring throw libtorch's "INDICES element is out of DATA bounds";
    // a swapped pair or a flipped mask entry loaded a different (not even invertible) flow silently.
    [Theory]
    [InlineData("detector-nll", "out of range")]
    [InlineData("scorer-feature-space", "out of range")]
    [InlineData("scorer-waic", "out of range")]
    [InlineData("gate-layer", "out of range")]
    [InlineData("scorer-feature-space", "swapped")]
    [InlineData("scorer-waic", "swapped")]
    [InlineData("scorer-feature-space", "mask")]
    [InlineData("flow-glow-lu", "mask")]
    public void IndexOrMaskBuffer_NotTheArchitecturesOwn_IsRefusedAtLoad(string kind, string damage)
    {
        var surgery = ModelFileSurgery.Open(kinds[kind].Bytes);
        var table = surgery.HeaderJson["tensors"]!.AsArray();
        string name;
        if (damage == "mask")
        {
            name = table.First(t => t!["name"]!.GetValue<string>().EndsWith(".condition_mask", StringComparison.Ordinal))!["name"]!.GetValue<string>();
            var (offset, _, _) = surgery.Tensor(name);
            surgery.Data[offset] ^= 1;
        }
        else
        {
            name = table.First(t => t!["name"]!.GetValue<string>().EndsWith("_channels", StringComparison.Ordinal) && t["length"]!.GetValue<long>() >= 16)!["name"]!.GetValue<string>();
            var (offset, _, _) = surgery.Tensor(name);
            var data = surgery.Data.AsSpan(offset, 16);
            if (damage == "swapped")
            {
                var first = data[..8].ToArray();
                data[8..].CopyTo(data);
                first.CopyTo(data[8..]);
            }
            else
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(data, 1000);
            }
        }

        Outcome(kind, surgery.Build()).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match($"*{name}*");
    }

    // A flow file may hold an untrained flow, but the flows of a scorer scored before they were saved.
    [Fact]
    public void ScorerFile_WithAnUninitialisedActNorm_IsRefusedAtLoad()
    {
        var path = folder.Combine("glow-scorer.flowood");
        var golden = Path.Combine(AppContext.BaseDirectory, "Persistence", "Golden", "v2", "flow-glow-lu.flowood");
        using (var flow = ModelFile.LoadFlow(golden))
        using (var scorer = new FlowOod.Scoring.NegativeLogLikelihoodScorer(flow, FlowOod.Scoring.LikelihoodUnit.Nats))
        {
            ModelFile.Save(scorer, path);
        }

        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        var name = surgery.HeaderJson["tensors"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).First(n => n.EndsWith(".initialized", StringComparison.Ordinal));
        surgery.Data[surgery.Tensor(name).Offset] = 0;
        File.WriteAllBytes(path, surgery.Build());
        FluentActions.Invoking(() => ModelFile.LoadScorer(path)).Should().Throw<ModelFormatException>().WithMessage($"*{name}*never initialised*");
        FluentActions.Invoking(() => ModelFile.LoadFlow(golden)).Should().NotThrow();
    }

    // A duplicated class name gave ArgumentException ("4 class names were given for a classifier with 3 classes"), an
    // input shape the classifier rejects gave the classifier's ArgumentException.
    [Fact]
    public void Gate_ClassNamesOrInputShapeDisagreeingWithTheClassifier_IsAGateMismatch()
    {
        var names = ModelFileMutations.WithHeader(kinds["gate-layer"].Bytes, h => h["content"]!["classNames"]!.AsArray().Add("middle"));
        Outcome("gate-layer", names).Should().Be("rejected: GateMismatchException");
        LastMessage.Should().Match("*4 class names*3 classes*");

        var shape = ModelFileMutations.WithHeader(kinds["gate-layer"].Bytes, h => h["content"]!["inputShape"] = new JsonArray(2, 8, 8));
        Outcome("gate-layer", shape).Should().Be("rejected: GateMismatchException");
        LastMessage.Should().Match("*[2, 8, 8]*");

        var layer = ModelFileMutations.WithHeader(kinds["gate-layer"].Bytes, h => h["content"]!["features"]!["name"] = "fc9");
        Outcome("gate-layer", layer).Should().Be("rejected: GateMismatchException");
        LastMessage.Should().Match("*fc9*");
    }

    // A gate over a detector of the inputs: an input shape its own scorer rejects is a damaged file.
    [Fact]
    public void InputGate_InputShapeItsScorerRejects_IsAFormatError()
    {
        var file = ModelFileMutations.WithHeader(kinds["gate-input"].Bytes, h => h["content"]!["inputShape"] = new JsonArray(1, 8, 9));
        Outcome("gate-input", file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*[1, 8, 9]*");
    }

    // Found when the seeded stream shifted: a stored batch size the test's constructor accepts but no batch of inputs could
    // fill (2^28 rows) loaded, and every use then threw an ArgumentException about the caller's rows. A batch size a file
    // may hold is bounded like every other count (2^24); a smaller changed one is a valid test for batches of that size.
    [Theory]
    [InlineData(268435456L)]
    [InlineData(2147483647L)]
    public void TypicalityTest_BatchSizeBeyondTheLimit_IsRefusedAtLoad(long batchSize)
    {
        var file = ModelFileMutations.WithHeader(kinds["typicality-test"].Bytes, h => h["content"]!["batchSize"] = batchSize);
        Outcome("typicality-test", file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match($"*mutant.flowood*$.content.batchSize*");
    }

    [Fact]
    public void TypicalityTest_ChangedBatchSizeInRange_LoadsAndTestsWholeBatchesOfIt()
    {
        var file = ModelFileMutations.WithHeader(kinds["typicality-test"].Bytes, h => h["content"]!["batchSize"] = 8);
        Outcome("typicality-test", file).Should().Be("loaded", LastMessage);
    }

    // A damaged compressor name ("PNG" cut to "PN") threw the ArgumentException meant for a custom compressor not passed
    // again; an unknown compressor is a file error naming the field (whether the name is damaged or the compressor custom).
    [Theory]
    [InlineData("scorer-input-complexity-png", "PN")]
    [InlineData("scorer-input-complexity-deflate", "Deflat")]
    public void InputComplexityScorer_UnknownCompressorName_IsAFormatError(string kind, string name)
    {
        var file = ModelFileMutations.WithHeader(kinds[kind].Bytes, h => h["content"]!["compressor"] = name);
        Outcome(kind, file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match($"*mutant.flowood*$.content.compressor*\"{name}\"*ModelCatalog.BuiltIn.WithCompressor(compressor)*");
    }

    // Data byte 55 (the exponent of σ[0]) changed: the scorer loaded and every in-range input then lay 10⁹ standard
    // deviations out, an ArgumentException blaming the caller's batch. Every fitted σⱼ is at least 1e-6 · max σ.
    [Theory]
    [InlineData("scorer-feature-space", 1e-10, 0)]
    [InlineData("scorer-feature-space", 1e12, 3)]
    [InlineData("gate-layer", 1e-300, 1)]
    [InlineData("embedding-detector", 1e-9, 0)]
    public void FeatureSpaceScorer_StandardDeviationBelowTheFitFloor_IsRefusedAtLoad(string kind, double value, int index)
    {
        var surgery = ModelFileSurgery.Open(kinds[kind].Bytes);
        var name = surgery.HeaderJson["tensors"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).Single(n => n.EndsWith(".std", StringComparison.Ordinal));
        surgery.SetElement(name, index, value);
        Outcome(kind, surgery.Build()).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*mutant.flowood*.std*below the floor*");
    }

    [Fact]
    public void FeatureSpaceScorer_TheExactMutantOfTheShiftedStream_IsRefusedAtLoad()
    {
        var surgery = ModelFileSurgery.Open(kinds["scorer-feature-space"].Bytes);
        var (offset, _, _) = surgery.Tensor("scorer.std");
        surgery.Data[offset + 7] = 0x3D; // σ[0] = 0.5 (0x3FE0...) becomes 0x3DE0... ≈ 1.1e-10
        Outcome("scorer-feature-space", surgery.Build()).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*$.content.std*[0]*below the floor*");
    }

    // Data byte 7 (the exponent of μ[0]) changed to make μ[0] ≈ 1e300: every input then lay "Infinity standard deviations"
    // out, an ArgumentException blaming the caller's batch. No bound on a fitted mean is safe (a feature constant in
    // training has μ/σ up to 10⁶ · max σ / σ), so a row out of range because of the stored mean scores +∞.
    [Theory]
    [InlineData(1e300)]
    [InlineData(-1e12)]
    public void FeatureSpaceScorer_AbsurdStoredMean_ScoresPlusInfinityInsteadOfBlamingTheInput(double mean)
    {
        var surgery = ModelFileSurgery.Open(kinds["scorer-feature-space"].Bytes);
        surgery.SetElement("scorer.mean", 0, mean);
        Outcome("scorer-feature-space", surgery.Build()).Should().Be("loaded", LastMessage);

        var path = folder.Write("mean.flowood", surgery.Build());
        using var scope = NewDisposeScope();
        using var scorer = (FlowOod.Scoring.FeatureSpaceScorer)kinds["scorer-feature-space"].Load(path);
        scorer.Score(GoldenModels.Images(5, 0)).Should().AllSatisfy(s => s.Should().Be(double.PositiveInfinity));
    }

    // Seeds 9 and 14 of the exploration: $.content.inputShape[1 or 2] = 9 is a shape the tiny CNN also accepts (the load
    // probes it), so the file is a valid gate for [1, 9, 8] or [1, 8, 9] inputs; it must load and classify inputs of it.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void LayerGate_InputShapeItsClassifierAccepts_LoadsAndClassifiesInputsOfIt(int index)
    {
        var file = ModelFileMutations.WithHeader(kinds["gate-layer"].Bytes, h => h["content"]!["inputShape"]![index] = 9);
        Outcome("gate-layer", file).Should().Be("loaded", LastMessage);
    }

    // An embedding detector whose scorer lost "extractor": "identity" asked the caller for extractor code (an
    // ArgumentException about the options); the file is what is wrong.
    [Fact]
    public void EmbeddingDetector_ScorerWithoutTheIdentityExtractor_IsAFormatError()
    {
        var file = ModelFileMutations.WithHeader(kinds["embedding-detector"].Bytes, h => h["content"]!["detector"]!["scorer"]!.AsObject().Remove("extractor"));
        Outcome("embedding-detector", file).Should().Be("rejected: ModelFormatException");
        LastMessage.Should().Match("*mutant.flowood*$.content.detector.scorer.extractor*identity*");
    }

    [Fact(Timeout = 600_000)]
    public async Task Load_SeededDamageToEveryKindOfModelFile_IsRejectedAsDocumentedOrLoadsAndScores()
    {
        await Task.Yield();
        foreach (var kind in kinds.Kinds)
        {
            Outcome(kind.Name, kind.Bytes).Should().Be("loaded", "the valid {0} file loads and scores ({1})", kind.Name, LastMessage);
        }

        var watch = Stopwatch.StartNew();
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var problems = new List<string>();
        var rng = new Random(2026);
        var ownStreams = kinds.Kinds.Where(k => k.MutationSeed is not null).ToDictionary(k => k.Name, k => new Random(k.MutationSeed!.Value));
        foreach (var mutation in ModelFileMutations.Kinds)
        {
            foreach (var kind in kinds.Kinds)
            {
                var source = ownStreams.GetValueOrDefault(kind.Name) ?? rng;
                for (int i = 0; i < CasesPerKindAndMutation; i++)
                {
                    TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
                    var (what, file) = ModelFileMutations.Apply(mutation, kind.Bytes, source);
                    var outcome = Outcome(kind.Name, file);
                    if (outcome.StartsWith("PROBLEM", StringComparison.Ordinal))
                    {
                        problems.Add($"{kind.Name}, {mutation} ({what}): {outcome} {LastMessage}");
                    }

                    var key = $"{mutation}: {outcome.Split(':')[0]}";
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                }
            }
        }

        output.WriteLine($"{outcomes.Values.Sum()} mutants of {kinds.Kinds.Count} files in {watch.Elapsed.TotalSeconds:F1} s; largest peak growth {largestGrowth >> 20} MiB");
        foreach (var (key, count) in outcomes)
        {
            output.WriteLine($"{key}: {count}");
        }

        foreach (var problem in problems)
        {
            output.WriteLine(problem);
        }

        problems.Should().BeEmpty();
        var perMutation = kinds.Kinds.Count * CasesPerKindAndMutation;
        outcomes.GetValueOrDefault("byte flips: rejected").Should().Be(perMutation, "the checksum catches every flipped bit");
        outcomes.GetValueOrDefault("truncation: rejected").Should().Be(perMutation, "the preamble's lengths catch every cut or insertion");
        foreach (var mutation in ModelFileMutations.Kinds.Skip(2))
        {
            outcomes.GetValueOrDefault($"{mutation}: rejected").Should().BeGreaterThan(0, "some {0} damage is refused", mutation);
        }

        // Removing or emptying an object always breaks a strictly read header; every other kind of edit can leave a valid model.
        foreach (var mutation in new[] { "json number", "json string", "json array", "integer buffer", "tensor bytes" })
        {
            outcomes.GetValueOrDefault($"{mutation}: loaded").Should().BeGreaterThan(0, "some {0} damage leaves a valid model", mutation);
        }
    }

    private string LastMessage { get; set; } = string.Empty;

    private long largestGrowth;

    // Loads a file with the load method of its kind and, when that succeeds, scores a fixed batch. "loaded" or
    // "rejected: <documented exception>", or "PROBLEM: ..." for an undocumented exception, a hang or too much memory.
    private string Outcome(string kindName, byte[] file)
    {
        var kind = kinds[kindName];
        var path = folder.Write("mutant.flowood", file);
        var before = ResidentBytes();
        ResetPeak();
        var task = Task.Run(() => LoadAndScore(kind, path));
        if (!task.Wait(CaseTimeout))
        {
            LastMessage = string.Empty;
            return $"PROBLEM: no answer after {CaseTimeout.TotalSeconds} s";
        }

        var growth = PeakBytes() - before;
        largestGrowth = Math.Max(largestGrowth, growth);
        var (outcome, message) = task.Result;
        LastMessage = message;
        return growth > MemoryBound ? $"PROBLEM: the process grew by {growth >> 20} MiB ({outcome})" : outcome;
    }

    private static (string Outcome, string Message) LoadAndScore(ModelFileKind kind, string path)
    {
        using var scope = NewDisposeScope();
        object loaded;
        try
        {
            loaded = kind.Load(path);
        }
        catch (Exception e) when (e is ModelFormatException || (kind.IsGate && e is GateMismatchException))
        {
            return ($"rejected: {e.GetType().Name}", e.Message);
        }
        catch (Exception e)
        {
            return ($"PROBLEM: load threw {e.GetType().Name}", e.ToString());
        }

        try
        {
            var scores = kind.Score(loaded);
            return scores.Any(double.IsNaN) ? ("PROBLEM: a NaN score was returned", string.Empty) : ("loaded", string.Empty);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("NaN", StringComparison.Ordinal))
        {
            // Documented: damaged (finite but absurd) parameters can make a score NaN, which is thrown, never returned.
            return ("loaded", e.Message);
        }
        catch (InvalidOperationException e) when (kind.Name.StartsWith("flow-", StringComparison.Ordinal) && e.Message.Contains("is not initialised", StringComparison.Ordinal))
        {
            // A flow file may hold a flow saved before training (ActNorm not initialised); using it says what to call.
            return ("loaded", e.Message);
        }
        catch (Exception e)
        {
            return ($"PROBLEM: scoring what loaded threw {e.GetType().Name}", e.ToString());
        }
        finally
        {
            ModelFileKinds.Release(loaded);
        }
    }

    // Resident and peak resident memory of the process (Linux: /proc/self/status; elsewhere the managed heap).
    private static long ResidentBytes() => OperatingSystem.IsLinux() ? Status("VmRSS:") : GC.GetTotalMemory(false);

    private static long PeakBytes() => OperatingSystem.IsLinux() ? Status("VmHWM:") : GC.GetTotalMemory(false);

    // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident size.
    private static void ResetPeak()
    {
        if (OperatingSystem.IsLinux())
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
    }

    private static long Status(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
