using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// <c>./build.sh bench-fused [rounds] [images] [threads]</c>: scoring images/s of the compact RealNVP's inference copy
/// with BatchNorm folded into the convolutions (<see cref="ConditionerPrecision.CreateInferenceCopy"/>) against the
/// unfolded copy (<see cref="ConditionerPrecision.CreateUnfusedInferenceCopy"/>), fp32 and bf16, chunks of 256, in
/// alternated rounds of one process; then single-image latency p50/p99 of each; then each st-network of the fp32 copy on a
/// batch of 128, as routed (the managed path where the Winograd form is the default) against libtorch alone; then one
/// image's 3×3 convolution at the model's shapes, libtorch against FlowOod's managed kernel (<see cref="HostConvBench"/>).
/// </summary>
/// <remarks>
/// Machine-readable lines: <c>fused-score MODEL PRECISION: fused N images/s | unfused N images/s | ratio Rx (min–max over
/// rounds) | best fused N | best unfused N | best ratio Rx | ...</c> (best: the least disturbed round of each),
/// <c>latency MODEL PRECISION VARIANT: p50 N ms | p99 N ms | calls N</c> and <c>fused-batch MODEL fp32 st-network CxHxW
/// batch 128: Forward N ms | libtorch N ms | libtorch / Forward Rx (min–max ...) | Forward's path P | ...</c>. Each
/// round measures the pair in the opposite order of the previous one, so a neighbour's load falls on both; the ratio of
/// each round's pair is reported with its spread. The load average is printed before and after: on a shared machine,
/// quote it.
/// </remarks>
internal static class FusedScoring
{
    private const int Chunk = 256;

    // The st-networks' batch in the fused-batch lines: below the scorers' chunk cap (ChunkBudget: a chunk of 256 reaches
    // the compact RealNVP's st-networks as 167 + 89 images, so that no libtorch feature map is mapped afresh per call).
    private const int BatchImages = 128;
    private const string Name = "compact RealNVP";
    private static readonly long[] ImageShape = [1, 28, 28];

    public static int Run(int rounds, int images, int threads, int latencyCalls)
    {
        if (threads > 0)
        {
            set_num_threads(threads);
        }

        Console.WriteLine($"cpu: {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | threads {get_num_threads()} | {Program.MallocNote}");
        Console.WriteLine($"load average before: {Peers.LoadAverage()}");
        random.manual_seed(1);
        using var data = rand(images, 1, 28, 28).mul_(255).floor_().div_(255);
        using var flow = RealNvp.Create(ImageShape, RealNvpOptions.Compact);
        // A few steps, so the running statistics are a trained flow's (speed does not depend on them).
        new FlowTrainer(flow, new TrainingOptions { Steps = 3, BatchSize = 64, Seed = 1 }).Train(data);

        BenchPrecisions.PrintSkipNote("fused-score: ");
        foreach (var precision in BenchPrecisions.Measured)
        {
            using var fused = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(flow, precision), chunkSize: Chunk, ownsFlow: true);
            using var unfused = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateUnfusedInferenceCopy(flow, precision), chunkSize: Chunk, ownsFlow: true);
            Rate(fused, data);
            Rate(unfused, data);
            var fusedRates = new List<double>();
            var unfusedRates = new List<double>();
            for (int round = 0; round < rounds; round++)
            {
                if (round % 2 == 0)
                {
                    fusedRates.Add(Rate(fused, data));
                    unfusedRates.Add(Rate(unfused, data));
                }
                else
                {
                    unfusedRates.Add(Rate(unfused, data));
                    fusedRates.Add(Rate(fused, data));
                }
            }

            var ratios = fusedRates.Zip(unfusedRates, (f, u) => f / u).ToArray();
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"fused-score {Name} {Label(precision)}: fused {Peers.Median(fusedRates):F1} images/s | unfused {Peers.Median(unfusedRates):F1} images/s | "
                + $"ratio {Peers.Median(ratios):F2}x ({ratios.Min():F2}-{ratios.Max():F2} over {rounds} alternated rounds of {images} images, chunks of {Chunk}) | "
                + $"best fused {fusedRates.Max():F1} | best unfused {unfusedRates.Max():F1} | best ratio {fusedRates.Max() / unfusedRates.Max():F2}x | "
                + $"fused rounds {Peers.Join(fusedRates)} | unfused rounds {Peers.Join(unfusedRates)}"));

            using var one = data.narrow(0, 0, 1);
            foreach (var (variant, scorer, helper) in new[] { ("fused", fused, false), ("fused + helper thread", fused, true), ("unfused", unfused, false) })
            {
                // The opt-in helper thread (FlowOodRuntime.UseSingleImageHelperThread), on for its own variant only.
                FlowOodRuntime.UseSingleImageHelperThread(helper);
                var (p50, p99) = Latency(scorer, one, latencyCalls);
                FlowOodRuntime.UseSingleImageHelperThread(false);
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"latency {Name} {Label(precision)} {variant}: p50 {p50:F2} ms | p99 {p99:F2} ms | calls {latencyCalls} | one image, {(helper ? "the caller's thread and the helper" : "one thread of the caller")}"));
            }
        }

        BatchNetworks(flow, data, rounds);
        HostConvBench.Run(rounds, latencyCalls);
        Console.WriteLine($"load average after: {Peers.LoadAverage()}");
        return 0;
    }

    // Each distinct st-network shape of the fp32 inference copy on a batch of BatchImages: FusedResNet.Forward (the managed
    // path where HostConv.WinogradByDefault holds, libtorch otherwise) against ForwardLibtorch, alternated.
    private static void BatchNetworks(NormalizingFlow flow, Tensor data, int rounds)
    {
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        var found = new Dictionary<string, (FusedResNet Network, long[] Shape)>();
        var hooks = copy.modules().OfType<ResNetConditioner>().Where(c => c.Folded is not null)
            .Select(c => c.register_forward_hook((_, input, output) =>
            {
                found.TryAdd(string.Join("x", input.shape.Skip(1)), (c.Folded!, input.shape.ToArray()));
                return output;
            }))
            .ToList();
        using (var two = data.narrow(0, 0, 2))
        using (var inference = inference_mode())
        {
            copy.LogProb(two, ScoringNoise.BinCentres).Dispose();
        }

        hooks.ForEach(h => h.remove());
        var path = HostConv.WinogradByDefault ? "managed (Winograd)" : "libtorch (no native 256-bit vectors: the managed path takes one image only)";
        foreach (var (key, (network, shape)) in found)
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            using var generator = new TorchSharp.torch.Generator(3);
            shape[0] = BatchImages;
            var input = randn(shape, generator: generator);
            double Time(Func<Tensor, Tensor> forward)
            {
                var clock = Stopwatch.StartNew();
                forward(input).Dispose();
                return clock.Elapsed.TotalMilliseconds;
            }

            Time(network.Forward);
            Time(network.ForwardLibtorch);
            var routed = new List<double>();
            var libtorch = new List<double>();
            for (int round = 0; round < Math.Max(3, rounds); round++)
            {
                if (round % 2 == 0)
                {
                    routed.Add(Time(network.Forward));
                    libtorch.Add(Time(network.ForwardLibtorch));
                }
                else
                {
                    libtorch.Add(Time(network.ForwardLibtorch));
                    routed.Add(Time(network.Forward));
                }
            }

            var ratios = libtorch.Zip(routed, (l, r) => l / r).ToArray();
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"fused-batch {Name} fp32 st-network {shape[1]}x{shape[2]}x{shape[3]} batch {BatchImages}: Forward {Peers.Median(routed):F1} ms | libtorch {Peers.Median(libtorch):F1} ms | "
                + $"libtorch / Forward {Peers.Median(ratios):F2}x ({ratios.Min():F2}-{ratios.Max():F2} over {ratios.Length} alternated rounds) | Forward's path {path} | threads {get_num_threads()}"));
        }
    }

    private static double Rate(NegativeLogLikelihoodScorer scorer, Tensor data)
    {
        var clock = Stopwatch.StartNew();
        scorer.Score(data);
        return data.shape[0] / clock.Elapsed.TotalSeconds;
    }

    private static (double P50, double P99) Latency(NegativeLogLikelihoodScorer scorer, Tensor one, int calls) =>
        FlowOod.Benchmarks.Latency.TimeCalls(() => scorer.Score(one), calls);


    private static string Label(ComputePrecision precision) => precision == ComputePrecision.BFloat16 ? "bf16" : "fp32";
}
