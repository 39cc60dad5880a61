using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Data;
using FlowOod.Detection;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Training;
using FlowOod.Samples.FashionMnist;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// The <c>compare-scorers</c> verb: every FlowOod scorer on Fashion-MNIST test (in-distribution) vs MNIST digits, each
/// with a detector calibrated on held-out Fashion-MNIST training images at a target false-positive rate.
/// </summary>
internal static class CompareScorers
{
    private const int HeldOutStart = 50_000;
    private const int HeldOutCount = 2_000;

    public static int Run(CompareOptions options)
    {
        var total = Stopwatch.StartNew();
        var (fashionTrain, fashionTest, mnist) = SampleData.Prepare(options.Threads, options.DataDirectory);
        Console.WriteLine($"Data: {options.TrainImages} Fashion-MNIST training images; held-out in-distribution images {HeldOutStart}–{HeldOutStart + (2 * HeldOutCount) - 1} "
            + $"(entropy estimate, then calibration); scored: {Math.Min(options.EvaluationLimit, fashionTest.Count)} Fashion-MNIST test vs {Math.Min(options.EvaluationLimit, mnist.Count)} MNIST; {get_num_threads()} threads.");

        using var train = fashionTrain.ToTensor(0, options.TrainImages);
        using var entropyData = fashionTrain.ToTensor(HeldOutStart, HeldOutCount);
        using var calibration = fashionTrain.ToTensor(HeldOutStart + HeldOutCount, HeldOutCount);
        var training = new TrainingOptions { Steps = options.Steps, BatchSize = options.BatchSize, LearningRate = 1e-3, ProgressInterval = 25 };

        var clock = Stopwatch.StartNew();
        var ensemble = new List<NormalizingFlow>();
        for (int k = 0; k < options.Ensemble; k++)
        {
            var flow = PixelFlow(options, options.Seed + k);
            Train($"pixel flow {k + 1}/{options.Ensemble}", () => new FlowTrainer(flow, training with { Seed = options.Seed + k }).Train(train, progress: Progress()));
            ensemble.Add(flow);
        }

        var foreground = ensemble[0];
        var backgroundTraining = training with { Seed = options.Seed + 1000, WeightDecay = options.WeightDecay };
        NormalizingFlow background;
        if (options.BackgroundFromScratch)
        {
            background = PixelFlow(options, options.Seed + 1000);
            Train($"background flow from scratch (μ = {options.MutationRate}, L2 = {options.WeightDecay})", () => LikelihoodRatioScorer.TrainBackground(
                background, train, options.MutationRate, backgroundTraining, Progress()));
        }
        else
        {
            clock.Restart();
            background = LikelihoodRatioScorer.FineTuneBackground(
                foreground, train, options.MutationRate, backgroundTraining with { LearningRate = 1e-3 }, Progress());
            Console.WriteLine($"Fine-tuned a copy of pixel flow 1 as the background (μ = {options.MutationRate}, L2 = {options.WeightDecay}, "
                + $"{options.Steps} steps at lr 0.001) in {clock.Elapsed.TotalSeconds:F0} s.");
        }

        clock.Restart();
        var (classifier, loss) = SmallClassifier.Train(fashionTrain, options.TrainImages, embeddingSize: 32, options.ClassifierSteps, batchSize: 64, learningRate: 2e-3, options.Seed, default);
        Console.WriteLine($"Classifier (2 conv layers, 32-dim embedding): {options.ClassifierSteps} steps, final loss {loss:F3}, "
            + $"accuracy {classifier.Accuracy(fashionTest, 2000):F3} on 2000 Fashion-MNIST test images ({clock.Elapsed.TotalSeconds:F0} s).");
        clock.Restart();
        var featureScorer = FeatureSpaceScorer.Fit(
            classifier.Embedding,
            train,
            new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                Training = new TrainingOptions { Steps = 2 * options.ClassifierSteps, BatchSize = 128, Seed = options.Seed },
            });
        Console.WriteLine($"Feature flow (tabular RealNVP, 4 couplings, width 64) fitted in {clock.Elapsed.TotalSeconds:F0} s.");

        var scorers = new IOodScorer[]
        {
            new NegativeLogLikelihoodScorer(foreground),
            new LikelihoodRatioScorer(foreground, background),
            new InputComplexityScorer(foreground, new PngCompressor()),
            new InputComplexityScorer(foreground, new DeflateCompressor()),
            TypicalityScorer.Fit(foreground, entropyData),
            new WaicScorer(ensemble),
            featureScorer,
        };

        Console.WriteLine();
        Console.WriteLine($"Fashion-MNIST test vs MNIST, OOD = positive class; detector: threshold calibrated on {HeldOutCount} held-out Fashion-MNIST training images at α = {options.Alpha}.");
        Console.WriteLine();
        Console.WriteLine("| Scorer                                       | AUROC | 95% CI      | AUPR-Out | FPR@95%TPR | detector FPR | detector TPR |");
        Console.WriteLine("|----------------------------------------------|------:|-------------|---------:|-----------:|-------------:|-------------:|");
        OodDetector? llrDetector = null;
        foreach (var scorer in scorers)
        {
            var inScores = Score(scorer, fashionTest, options.EvaluationLimit);
            var oodScores = Score(scorer, mnist, options.EvaluationLimit);
            var detector = OodDetector.Calibrate(scorer, calibration, options.Alpha);
            llrDetector ??= scorer is LikelihoodRatioScorer ? detector : null;
            var (lower, upper) = OodMetrics.AurocConfidenceInterval(inScores, oodScores, resamples: 200, seed: 1);
            Console.WriteLine($"| {scorer.Name.Replace("|", "\\|", StringComparison.Ordinal),-44} | {OodMetrics.Auroc(inScores, oodScores):F3} | {lower:F3}–{upper:F3} | {OodMetrics.AuprOut(inScores, oodScores),8:F3} | "
                + $"{OodMetrics.FprAtTpr(inScores, oodScores),10:F3} | {Rate(detector, inScores),12:F3} | {Rate(detector, oodScores),12:F3} |");
        }

        if (options.SaveDetector is { } path && llrDetector is not null)
        {
            CheckSavedDetector(llrDetector, path, fashionTest, mnist);
        }

        Console.WriteLine($"Total time {total.Elapsed.TotalMinutes:F1} min.");
        foreach (var flow in ensemble.Append(background))
        {
            flow.Dispose();
        }

        featureScorer.Dispose(); // Fit created its flow, so the scorer owns it.

        classifier.Dispose();
        return 0;
    }

    private static NormalizingFlow PixelFlow(CompareOptions options, long seed)
    {
        return FlowCache.Build(seed, () => options.Flow == "glow"
            ? Glow.Create([1, 28, 28], new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 })
            : RealNvp.Create([1, 28, 28], RealNvpOptions.Compact));
    }

    private static void Train(string what, Func<TrainingResult> train)
    {
        var result = train();
        Console.WriteLine($"Trained {what}: {result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s ({result.ExamplesPerSecond:F0} images/s), final loss {result.FinalLoss:F3} bits/dim.");
    }

    private static SyncProgress<TrainingProgress> Progress()
    {
        var bar = new ProgressBar();
        return new SyncProgress<TrainingProgress>(bar.Report);
    }

    private static double Rate(OodDetector detector, double[] scores) => scores.Count(s => detector.Predict(s).IsOutOfDistribution) / (double)scores.Length;

    private static void CheckSavedDetector(OodDetector detector, string path, ImageDataset fashionTest, ImageDataset mnist)
    {
        ModelFile.Save(detector, path, new Dictionary<string, string> { ["trainedOn"] = "Fashion-MNIST", ["scorer"] = detector.Scorer.Name });
        using var loaded = ModelFile.LoadDetector(path); // owns the flows it loaded
        using var scope = NewDisposeScope();
        var images = cat([fashionTest.ToTensor(0, 500), mnist.ToTensor(0, 500)]);
        var same = detector.Predict(images).SequenceEqual(loaded.Predict(images));
        Console.WriteLine($"Saved the likelihood-ratio detector to {path} ({new System.IO.FileInfo(path).Length:N0} bytes) and reloaded it: "
            + (same ? "identical verdicts, scores and p-values on 1000 images." : "VERDICTS DIFFER."));
    }

    /// <summary>Scores the first <paramref name="limit"/> images of <paramref name="data"/> in chunks of 1000.</summary>
    internal static double[] Score(IOodScorer scorer, ImageDataset data, int limit)
    {
        var count = Math.Min(limit, data.Count);
        var scores = new double[count];
        const int Chunk = 1000;
        for (int start = 0; start < count; start += Chunk)
        {
            var length = Math.Min(Chunk, count - start);
            using var images = data.ToTensor(start, length);
            scorer.Score(images).CopyTo(scores, start);
        }

        return scores;
    }
}
