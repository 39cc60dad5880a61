using System;
using System.Diagnostics;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// Images-per-second of training and scoring the compact RealNVP and a small Glow (GlowOptions.Tiny) on 28×28×1 inputs
/// at batch 64, measured in one process so the numbers can be compared with each other and with a reference run on the
/// same machine.
/// </summary>
internal static class Throughput
{
    public static int Run(int trainSteps, int scoreImages, int threads)
    {
        if (threads > 0)
        {
            set_num_threads(threads);
        }

        random.manual_seed(1);
        using var data = rand(2048, 1, 28, 28).mul_(255).floor_().div_(255);
        var (model, flags) = ConvCeiling.Processor();
        Console.WriteLine($"cpu: {model} | cores {Environment.ProcessorCount} | flags {flags} | threads={get_num_threads()}");

        // The convolution ceiling at the compact RealNVP's st-network shapes (width 32 at 28×28 and after the squeeze at
        // 14×14, batch 64), fp32 and bf16, forward and forward + backward: what fp32 can reach and what bf16 would give.
        foreach (var size in new long[] { 28, 14 })
        {
            foreach (var backward in new[] { false, true })
            {
                var fp32 = ConvCeiling.Measure(64, 32, size, ScalarType.Float32, backward, calls: 10);
                var bf16 = ConvCeiling.Measure(64, 32, size, ScalarType.BFloat16, backward, calls: 10);
                Console.WriteLine($"conv ceiling {fp32.Shape} {(backward ? "fwd+bwd" : "fwd")}: fp32 {fp32.GflopPerSecond:F1} GFLOP/s ({fp32.SecondsPerCall * 1e3:F2} ms) | "
                    + $"bf16 {bf16.GflopPerSecond:F1} GFLOP/s ({bf16.SecondsPerCall * 1e3:F2} ms) | bf16/fp32 {bf16.GflopPerSecond / fp32.GflopPerSecond:F2}x");
            }
        }

        using (var realNvp = RealNvp.Create(new long[] { 1, 28, 28 }, RealNvpOptions.Compact))
        {
            Measure("compact RealNVP", realNvp, data, trainSteps, scoreImages);
        }

        using (var glow = Glow.Create(new long[] { 1, 28, 28 }, GlowOptions.Tiny))
        {
            ActNorm.InitializeAll(glow, data.narrow(0, 0, 256));
            Measure("Glow (Tiny)", glow, data, trainSteps, scoreImages);
        }

        return 0;
    }

    private static void Measure(string name, NormalizingFlow flow, Tensor data, int trainSteps, int scoreImages)
    {

        // Warm-up: first calls pay for kernel selection and allocation.
        new FlowTrainer(flow, new TrainingOptions { Steps = 3, BatchSize = 64 }).Train(data);

        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = trainSteps, BatchSize = 64 });
        var result = trainer.Train(data);

        var scorer = new NegativeLogLikelihoodScorer(flow, chunkSize: 64);
        using var scoring = data.narrow(0, 0, Math.Min(scoreImages, data.shape[0]));
        scorer.Score(scoring.narrow(0, 0, 64));
        var clock = Stopwatch.StartNew();
        long scored = 0;
        while (scored < scoreImages)
        {
            scorer.Score(scoring);
            scored += scoring.shape[0];
        }

        var scoreRate = scored / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: train {result.ExamplesPerSecond:F1} images/s ({trainSteps} steps of 64) | score {scoreRate:F1} images/s ({scored} images, chunks of 64)");
    }
}
