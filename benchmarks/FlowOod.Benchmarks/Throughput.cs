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
        Console.WriteLine($"threads={get_num_threads()}");
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
