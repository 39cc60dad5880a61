using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// The compact RealNVP beside its peers in one process, one measurement at a time: FlowOod (training the flow; scoring
/// through its inference copy, BatchNorm folded), ONNX Runtime on FlowOod's own export of the same weights, and — when a
/// python3 with torch exists — the PyTorch twin in fp32 NCHW, fp32 channels_last and bf16 autocast + channels_last, and
/// ONNX Runtime on the twin's own export. Repeated in alternated rounds (each round runs the contestants in the reverse
/// order of the previous one) so a neighbour's load falls on all of them; per column the ratio of FlowOod to the best
/// peer of each round, with its spread.
/// </summary>
/// <remarks>
/// Machine-readable lines (see docs/performance.md, "Peers"): <c>onnx-check compact RealNVP fp32: max |bits/dim gap| ...</c>,
/// then per column (train fp32, train bf16, score fp32, score bf16) <c>peers compact RealNVP COLUMN: FlowOod N images/s |
/// PEER N images/s | ... | best peer NAME | FlowOod / best peer Rx (min-max over K alternated rounds) | rounds ...</c>
/// (medians over the rounds), the same for <c>score any</c> (FlowOod's faster precision of each round against every
/// scoring peer in any precision), and <c>peers compact RealNVP summary: train fp32 Rx | train bf16 Rx | score fp32 Rx |
/// score bf16 Rx | score any Rx | ...</c> (<c>-</c> where no peer ran).
/// </remarks>
internal static class Peers
{
    /// <summary>The scoring chunk of every contestant (FlowOod's default, the issue's table).</summary>
    public const int Chunk = 256;

    private const string Name = "compact RealNVP";
    private const string FlowOodLabel = "FlowOod";
    private static readonly long[] ImageShape = [1, 28, 28];
    private static readonly string[] Columns = ["train fp32", "train bf16", "score fp32", "score bf16"];
    private const string AnyColumn = "score any";

    // Which of the twin's modes competes in which precision column.
    private static readonly Dictionary<string, string> TwinPrecision = new() { ["fp32"] = "fp32", ["fp32-cl"] = "fp32", ["bf16-cl"] = "bf16" };

    /// <summary>Runs the comparison on <paramref name="data"/> (8-bit images in [0, 1], <c>[N, 1, 28, 28]</c>).</summary>
    public static void Run(Tensor data, int rounds, int trainSteps, int scoreImages)
    {
        var threads = get_num_threads();
        Console.WriteLine($"peers {Name}: {rounds} alternated rounds, {threads} threads, scoring chunks of {Chunk}, {trainSteps} training steps of 64, {scoreImages} images scored per measurement | load average {LoadAverage()}");

        // The scored flow: a few training steps so that no st-network is the identity (its output convolution starts at
        // zero), then frozen. FlowOod scores it through its inference copies; ONNX Runtime through FlowOod's export.
        random.manual_seed(1);
        using var scored = RealNvp.Create(ImageShape, RealNvpOptions.Compact);
        new FlowTrainer(scored, new TrainingOptions { Steps = 3, BatchSize = 64, Seed = 1 }).Train(data);
        scored.eval();
        var pixels = Pixels(data);
        using var copy32 = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(scored, ComputePrecision.Float32), chunkSize: Chunk, ownsFlow: true);
        BenchPrecisions.PrintSkipNote($"peers {Name}: ");
        using var copy16 = BenchPrecisions.MeasuresBFloat16
            ? new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(scored, ComputePrecision.BFloat16), chunkSize: Chunk, ownsFlow: true)
            : null;
        using var ort = new OnnxRuntimePeer(OnnxExport.ToBytes(scored), null, threads, OnnxExport.BitsPerDimOutput, ImageShape);
        Check(scored, copy32, ort, data, pixels);

        // The trained flow is another instance: training moves weights, and the scored flow must stay the exported one.
        random.manual_seed(2);
        using var trained = RealNvp.Create(ImageShape, RealNvpOptions.Compact);
        foreach (var precision in BenchPrecisions.Measured)
        {
            // Warm-up: the first steps of each precision pay for kernel selection and allocation.
            new FlowTrainer(trained, new TrainingOptions { Steps = 2, BatchSize = 64, Precision = precision }).Train(data);
        }

        var python = PyTorchTwin.Python();
        var twinNote = python is null ? "no python3 with torch here (Debian: apt-get install python3-torch), so no PyTorch peer and no ONNX export of the twin" : python;
        Console.WriteLine($"peers {Name}: PyTorch twin {(python is null ? "not run: " : "with ")}{twinNote}");
        var twinOnnx = Path.Combine(Path.GetTempPath(), $"flowood-twin-{Environment.ProcessId}.onnx");
        OnnxRuntimePeer? twinOrt = null;
        var ortLabel = $"{OnnxRuntimePeer.Version} (FlowOod's export)";
        var twinOrtLabel = $"{OnnxRuntimePeer.Version} (the twin's export)";

        // samples[(column, contestant)][round]; a contestant missing from a round has no entry for it.
        var samples = new Dictionary<(string Column, string Who), SortedDictionary<int, double>>();
        void Add(string column, string who, int round, double value)
        {
            if (!samples.TryGetValue((column, who), out var byRound))
            {
                samples[(column, who)] = byRound = new SortedDictionary<int, double>();
            }

            byRound[round] = value;
        }

        try
        {
            for (int round = 0; round < rounds; round++)
            {
                var r = round;
                var contestants = new List<Action>
                {
                    () =>
                    {
                        if (python is null)
                        {
                            return;
                        }

                        var (run, note) = PyTorchTwin.Measure(threads, Chunk, twinOrt is null && r == 0 ? twinOnnx : null);
                        if (run is null)
                        {
                            Console.WriteLine($"peers {Name}: PyTorch twin round {r + 1} failed: {note}");
                            return;
                        }

                        foreach (var mode in run.Modes)
                        {
                            Add($"train {TwinPrecision.GetValueOrDefault(mode.Mode, mode.Mode)}", mode.Description, r, mode.TrainImagesPerSecond);
                            Add($"score {TwinPrecision.GetValueOrDefault(mode.Mode, mode.Mode)}", mode.Description, r, mode.ScoreImagesPerSecond);
                        }

                        if (r == 0)
                        {
                            Console.WriteLine($"peers {Name}: ONNX export of the twin: {run.OnnxPath ?? "none, " + run.OnnxNote}");
                            if (run.OnnxPath is not null)
                            {
                                twinOrt = new OnnxRuntimePeer(null, run.OnnxPath, threads, "log_likelihood", ImageShape);
                            }
                        }
                    },
                    () =>
                    {
                        Add("score fp32", ortLabel, r, ort.Rate(pixels, scoreImages, Chunk));
                        if (twinOrt is not null)
                        {
                            Add("score fp32", twinOrtLabel, r, twinOrt.Rate(pixels, scoreImages, Chunk));
                        }
                    },
                    () =>
                    {
                        foreach (var precision in BenchPrecisions.Measured)
                        {
                            var result = new FlowTrainer(trained, new TrainingOptions { Steps = trainSteps, BatchSize = 64, Precision = precision }).Train(data);
                            Add($"train {Label(precision)}", FlowOodLabel, r, result.ExamplesPerSecond);
                        }

                        Add("score fp32", FlowOodLabel, r, Rate(copy32, data, scoreImages));
                        if (copy16 is not null)
                        {
                            Add("score bf16", FlowOodLabel, r, Rate(copy16, data, scoreImages));
                        }
                    },
                };
                if (round % 2 == 1)
                {
                    contestants.Reverse();
                }

                contestants.ForEach(run => run());
            }
        }
        finally
        {
            twinOrt?.Dispose();
            File.Delete(twinOnnx);
        }

        // "score any": FlowOod's faster precision of each round against every scoring peer in any precision (what a
        // user who only wants speed compares; on a CPU without native bf16 FlowOod's bf16 is slow and fp32 counts).
        foreach (var ((column, who), byRound) in samples.Where(s => s.Key.Column.StartsWith("score ", StringComparison.Ordinal)).ToArray())
        {
            foreach (var (round, value) in byRound)
            {
                var precision = column["score ".Length..];
                if (who == FlowOodLabel)
                {
                    var best = samples.TryGetValue((AnyColumn, who), out var sofar) && sofar.TryGetValue(round, out var other) ? Math.Max(other, value) : value;
                    Add(AnyColumn, who, round, best);
                }
                else
                {
                    Add(AnyColumn, $"{who} [{precision}]", round, value);
                }
            }
        }

        var summary = new List<string>();
        foreach (var column in Columns.Append(AnyColumn))
        {
            summary.Add($"{column} {Report(column, samples, rounds)}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peers {Name} summary: {string.Join(" | ", summary)} | FlowOod / best peer, median over the rounds; - where no peer ran | load average {LoadAverage()}"));
    }

    // One column's line (none for a column FlowOod did not measure); returns the summary's "Rx" or "-".
    private static string Report(string column, Dictionary<(string Column, string Who), SortedDictionary<int, double>> samples, int rounds)
    {
        var ours = samples.GetValueOrDefault((column, FlowOodLabel)) ?? new SortedDictionary<int, double>();
        if (ours.Count == 0)
        {
            return "-"; // a precision this run does not measure (see BenchPrecisions): its skip line said why
        }

        var peers = samples.Where(s => s.Key.Column == column && s.Key.Who != FlowOodLabel)
            .Select(s => (Who: s.Key.Who, Rounds: s.Value))
            .OrderByDescending(p => Median(p.Rounds.Values))
            .ToArray();
        var parts = new List<string> { Invariant($"{FlowOodLabel} {Median(ours.Values):F1} images/s") };
        parts.AddRange(peers.Select(p => Invariant($"{p.Who} {Median(p.Rounds.Values):F1} images/s")));
        if (peers.Length == 0)
        {
            parts.Add("no peer ran");
            parts.Add($"rounds {FlowOodLabel} {Join(ours.Values)}");
            Console.WriteLine($"peers {Name} {column}: {string.Join(" | ", parts)}");
            return "-";
        }

        // Per round: FlowOod over the best peer of that round (rounds where both ran).
        var ratios = ours.Keys
            .Where(r => peers.Any(p => p.Rounds.ContainsKey(r)))
            .Select(r => ours[r] / peers.Where(p => p.Rounds.ContainsKey(r)).Max(p => p.Rounds[r]))
            .ToArray();
        parts.Add($"best peer {peers[0].Who}");
        parts.Add(ratios.Length == 0
            ? "FlowOod / best peer -"
            : Invariant($"FlowOod / best peer {Median(ratios):F2}x ({ratios.Min():F2}-{ratios.Max():F2} over {ratios.Length} of {rounds} alternated rounds)"));
        parts.Add("rounds " + string.Join("; ", new[] { $"{FlowOodLabel} {Join(ours.Values)}" }.Concat(peers.Select(p => $"{p.Who} {Join(p.Rounds.Values)}"))));
        Console.WriteLine($"peers {Name} {column}: {string.Join(" | ", parts)}");
        return ratios.Length == 0 ? "-" : Invariant($"{Median(ratios):F2}x");
    }

    // The same computation? ONNX Runtime's bits/dim against FlowOod's (the flow itself, bin-centre noise) and its
    // fp32 inference copy (BatchNorm folded: differs by the folded weights' rounding).
    private static void Check(NormalizingFlow flow, NegativeLogLikelihoodScorer copy32, OnnxRuntimePeer ort, Tensor data, float[] pixels)
    {
        var count = (int)Math.Min(Chunk, data.shape[0]);
        using var exact = new NegativeLogLikelihoodScorer(flow, chunkSize: Chunk);
        using var images = data.narrow(0, 0, count);
        var reference = exact.Score(images);
        var folded = copy32.Score(images);
        var theirs = ort.Run(pixels, 0, count);
        var gapFlow = reference.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
        var gapCopy = folded.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
        var verdict = gapFlow < 1e-4 ? "same computation (gap < 1e-4)" : "DIFFERENT COMPUTATION (gap >= 1e-4): the comparison is not like for like";
        Console.WriteLine(
            Invariant($"onnx-check {Name} fp32: max |bits/dim gap| ONNX Runtime vs FlowOod's flow {gapFlow:E2} | vs FlowOod's fp32 inference copy (BatchNorm folded) {gapCopy:E2} | ")
            + Invariant($"{count} images, bin-centre noise, mean bits/dim {reference.Average():F3} | {verdict}"));
    }

    private static double Rate(NegativeLogLikelihoodScorer scorer, Tensor data, int images)
    {
        using var scoring = data.narrow(0, 0, Math.Min(images, data.shape[0]));
        using (var warm = scoring.narrow(0, 0, Math.Min(Chunk, scoring.shape[0])))
        {
            scorer.Score(warm);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        long scored = 0;
        while (scored < images)
        {
            scorer.Score(scoring);
            scored += scoring.shape[0];
        }

        return scored / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A tensor's values as a row-major float array.</summary>
    public static float[] Pixels(Tensor data)
    {
        using var scope = NewDisposeScope();
        return data.to(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    /// <summary>The median (mean of the middle two for an even count); NaN when empty.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : 0.5 * (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]);
    }

    /// <summary>Linux's load average line, or "unknown".</summary>
    public static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";

    /// <summary>Values as whole numbers separated by spaces (a line's per-round figures).</summary>
    public static string Join(IEnumerable<double> values) => string.Join(" ", values.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Label(ComputePrecision precision) => precision == ComputePrecision.BFloat16 ? "bf16" : "fp32";
}
