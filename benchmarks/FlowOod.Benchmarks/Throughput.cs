using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// <c>./build.sh bench</c>: training and scoring images/s of FlowOod's image flows in fp32 and with bf16 st-networks, the
/// FLOPs per image counted from each architecture, the GFLOP/s achieved against the convolution ceiling this process
/// measures at the model's own shapes, peak RSS per phase; then the compact RealNVP beside its peers (ONNX Runtime, the
/// PyTorch twin when torch is found; <see cref="Peers"/>) and single-image latency (<see cref="Latency"/>).
/// </summary>
/// <remarks>
/// One line per model and precision, <c>NAME PRECISION: train N images/s | score N images/s | ...</c>, so runs can be
/// compared by a script. Everything runs in one process, one measurement at a time; the twin runs between FlowOod's
/// measurements, never beside them. Inputs are random 8-bit images (28×28×1): speed does not depend on the pixels.
/// </remarks>
internal static class Throughput
{
    private static readonly long[] ImageShape = [1, 28, 28];
    private static readonly int[] ChunkSizes = [16, 64, 256];
    private static readonly bool[] Layouts = [false, true]; // channels-last?

    public static int Run(int trainSteps, int scoreImages, int threads, int rounds, int latencyCalls)
    {
        if (threads > 0)
        {
            set_num_threads(threads);
        }

        random.manual_seed(1);
        using var data = rand(2048, 1, 28, 28).mul_(255).floor_().div_(255);
        var auto = ConditionerPrecision.Choose(ComputePrecision.Auto);
        Console.WriteLine($"cpu: {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | threads {get_num_threads()} | {Program.MallocNote}");
        Console.WriteLine($"bf16: Auto chooses {auto.Precision} here: {auto.Reason}");
        BenchPrecisions.PrintSkipNote(string.Empty);

        var models = new[]
        {
            new Model("compact RealNVP", () => RealNvp.Create(ImageShape, RealNvpOptions.Compact), 64, trainSteps, scoreImages),
            new Model("Glow Tiny", () => Glow.Create(ImageShape, GlowOptions.Tiny), 64, trainSteps, scoreImages),
            new Model("Glow Compact", () => Glow.Create(ImageShape, GlowOptions.Compact), 64, trainSteps, scoreImages),
            new Model("paper RealNVP", () => RealNvp.Create(ImageShape, RealNvpOptions.FashionMnistPaper), 32, Math.Min(trainSteps, 4), Math.Min(scoreImages, 256)),
        };

        foreach (var model in models)
        {
            Measure(model, data);
            if (model.Name == "compact RealNVP")
            {
                ChunkAndThreads(model, data, threads);
            }
        }

        Peers.Run(data, rounds, trainSteps, scoreImages);
        Latency.Run(data, latencyCalls);
        return 0;
    }

    /// <summary>Only the peers (<see cref="Peers"/>) and the single-image latency (<see cref="Latency"/>) of the compact RealNVP.</summary>
    public static int RunPeers(int rounds, int trainSteps, int scoreImages, int threads, int latencyCalls)
    {
        if (threads > 0)
        {
            set_num_threads(threads);
        }

        random.manual_seed(1);
        using var data = rand(2048, 1, 28, 28).mul_(255).floor_().div_(255);
        Console.WriteLine($"cpu: {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | threads {get_num_threads()} | {Program.MallocNote}");
        Peers.Run(data, rounds, trainSteps, scoreImages);
        Latency.Run(data, latencyCalls);
        return 0;
    }

    private static Dictionary<ComputePrecision, (double Train, double Score)> Measure(Model model, Tensor data)
    {
        using var flow = model.Build();
        if (flow.modules().OfType<ActNorm>().Any())
        {
            ActNorm.InitializeAll(flow, data.narrow(0, 0, 256));
        }

        var layers = FlopCount.Layers(flow, data.narrow(0, 0, 1));
        var forward = FlopCount.ForwardPerExample(layers);
        var convolutions = layers.Where(l => l.Shape.K == 3).ToArray();
        var parameters = flow.parameters().Sum(p => p.numel());
        Console.WriteLine(
            $"{model.Name}: {parameters:N0} parameters | {forward / 1e9:F3} GFLOP per image to score, {3 * forward / 1e9:F3} to train "
            + $"(convolutions and linear layers, counted from the architecture; 3x3 convolutions {convolutions.Sum(l => l.Flops) / forward:P0} of them)");

        var ceiling = new Dictionary<(ComputePrecision, bool), double>();
        foreach (var precision in BenchPrecisions.Measured)
        {
            foreach (var backward in new[] { false, true })
            {
                ceiling[(precision, backward)] = Ceiling(convolutions, model.BatchSize, precision, backward);
            }
        }

        Console.WriteLine(
            $"{model.Name} conv ceiling (its 3x3 convolutions at batch {model.BatchSize}, FLOP-weighted, best of NCHW and channels-last): "
            + string.Join(" | ", BenchPrecisions.Measured.Select(p => $"{Label(p)} fwd {ceiling[(p, false)]:F1}, fwd+bwd {ceiling[(p, true)]:F1} GFLOP/s")));

        // Warm-up: first calls pay for kernel selection and allocation.
        new FlowTrainer(flow, new TrainingOptions { Steps = 2, BatchSize = model.BatchSize }).Train(data);
        var rates = new Dictionary<ComputePrecision, (double Train, double Score)>();
        foreach (var precision in BenchPrecisions.Measured)
        {
            PeakMemory.Reset();
            var trained = new FlowTrainer(flow, new TrainingOptions { Steps = model.TrainSteps, BatchSize = model.BatchSize, Precision = precision }).Train(data);
            var trainPeak = PeakMemory.PeakMiB();

            PeakMemory.Reset();
            var score = ScoreRate(flow, precision, data, model.ScoreImages, model.BatchSize);
            var scorePeak = PeakMemory.PeakMiB();
            rates[precision] = (trained.ExamplesPerSecond, score);

            var trainGflops = trained.ExamplesPerSecond * 3 * forward / 1e9;
            var scoreGflops = score * forward / 1e9;
            Console.WriteLine(
                $"{model.Name} {Label(precision)}: train {trained.ExamplesPerSecond:F1} images/s | score {score:F1} images/s | "
                + $"train {trainGflops:F1} GFLOP/s = {trainGflops / ceiling[(precision, true)]:P0} of the fwd+bwd ceiling, "
                + $"score {scoreGflops:F1} GFLOP/s = {scoreGflops / ceiling[(precision, false)]:P0} of the fwd ceiling | "
                + $"peak RSS train {PeakMemory.Format(trainPeak)}, score {PeakMemory.Format(scorePeak)} | {model.TrainSteps} steps of {model.BatchSize}");
        }

        return rates;
    }

    // Scoring images/s in chunks of `chunk`: the flow itself for fp32, its bf16 inference copy for bf16.
    private static double ScoreRate(NormalizingFlow flow, ComputePrecision precision, Tensor data, int images, int chunk)
    {
        using var scorer = new NegativeLogLikelihoodScorer(
            precision == ComputePrecision.Float32 ? flow : ConditionerPrecision.CreateInferenceCopy(flow, precision),
            chunkSize: chunk,
            ownsFlow: precision != ComputePrecision.Float32);
        using var scoring = data.narrow(0, 0, Math.Min(images, data.shape[0]));
        scorer.Score(scoring.narrow(0, 0, Math.Min(chunk, scoring.shape[0])));
        var clock = Stopwatch.StartNew();
        long scored = 0;
        while (scored < images)
        {
            scorer.Score(scoring);
            scored += scoring.shape[0];
        }

        return scored / clock.Elapsed.TotalSeconds;
    }

    // The scoring chunk size and the thread count, measured: what FlowOod's defaults and docs rest on.
    private static void ChunkAndThreads(Model model, Tensor data, int threads)
    {
        using var flow = model.Build();
        foreach (var precision in BenchPrecisions.Measured)
        {
            var byChunk = ChunkSizes.Select(chunk => $"{chunk}: {ScoreRate(flow, precision, data, 1024, chunk):F1}");
            Console.WriteLine($"{model.Name} {Label(precision)} score by chunk size (images/s): {string.Join(" | ", byChunk)}");
        }

        var configured = get_num_threads();
        var byThreads = new List<string>();
        foreach (var count in Enumerable.Range(1, Environment.ProcessorCount).Where(c => c <= 4 || c == Environment.ProcessorCount))
        {
            set_num_threads(count);
            byThreads.Add($"{count}: {ScoreRate(flow, ComputePrecision.Float32, data, 1024, 64):F1}");
        }

        set_num_threads(threads > 0 ? threads : configured);
        Console.WriteLine($"{model.Name} fp32 score by intra-op threads (images/s, chunks of 64): {string.Join(" | ", byThreads)}");
    }

    // The FLOP-weighted ceiling of a model's 3x3 convolutions: total FLOPs over the time each shape takes at its best measured rate.
    private static double Ceiling(IReadOnlyList<LayerFlops> convolutions, int batch, ComputePrecision precision, bool backward)
    {
        var dtype = precision == ComputePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        double flops = 0;
        double seconds = 0;
        foreach (var group in convolutions.GroupBy(l => l.Shape))
        {
            var shape = group.Key with { N = batch };
            // Best of three per layout (NCHW and channels-last, the layout bf16 st-networks run in): the VM's neighbours
            // slow single measurements by up to 2x; the ceiling is what the machine can do.
            var rate = Layouts.Max(channelsLast =>
                Enumerable.Range(0, 3).Max(_ => ConvCeiling.Measure(shape, dtype, backward, calls: 5, channelsLast).GflopPerSecond));
            var groupFlops = group.Sum(l => l.Flops);
            flops += groupFlops;
            seconds += groupFlops / rate;
        }

        return seconds > 0 ? flops / seconds : double.NaN;
    }

    private static string Label(ComputePrecision precision) => precision == ComputePrecision.BFloat16 ? "bf16" : "fp32";

    private sealed record Model(string Name, Func<NormalizingFlow> Build, int BatchSize, int TrainSteps, int ScoreImages);
}
