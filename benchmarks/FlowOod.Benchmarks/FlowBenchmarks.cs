using System;
using BenchmarkDotNet.Attributes;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>One training step and one scoring call of the compact RealNVP or a small Glow on [64, 1, 28, 28] 8-bit images.</summary>
[MemoryDiagnoser]
[JsonExporterAttribute.Full]
public class FlowBenchmarks : IDisposable
{
    private NormalizingFlow flow = null!;
    private FlowTrainer trainer = null!;
    private NegativeLogLikelihoodScorer? scorer;
    private Tensor images = null!;

    /// <summary>The model: "RealNvpCompact" (RealNvpOptions.Compact) or "GlowTiny" (GlowOptions.Tiny).</summary>
    [Params("RealNvpCompact", "GlowTiny")]
    public string Model { get; set; } = "RealNvpCompact";

    /// <summary>Builds the flow (initialising Glow's ActNorms), a trainer taking one step per call, and a batch.</summary>
    [GlobalSetup]
    public void Setup()
    {
        random.manual_seed(0);
        images = randint(0, 256, new long[] { 64, 1, 28, 28 }).to(ScalarType.Float32).div_(255);
        flow = Model == "GlowTiny"
            ? Glow.Create(new long[] { 1, 28, 28 }, GlowOptions.Tiny)
            : RealNvp.Create(new long[] { 1, 28, 28 }, RealNvpOptions.Compact);
        Bijectors.ActNorm.InitializeAll(flow, images);
        trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 1, BatchSize = 64 });
        scorer = new NegativeLogLikelihoodScorer(flow, chunkSize: 64, ownsFlow: true);
    }

    /// <summary>Releases the batch and the scorer, which owns the flow.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        images.Dispose();
        Dispose();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        scorer?.Dispose();
        scorer = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>One Adam step on 64 images (includes creating the optimizer state of a one-step run).</summary>
    [Benchmark]
    public void TrainStep() => trainer.Train(images);

    /// <summary>Scores 64 images (bits/dim) in evaluation mode.</summary>
    [Benchmark(Baseline = true)]
    public double[] Score() => scorer!.Score(images);
}
