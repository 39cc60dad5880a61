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
