using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood evaluate</c>.</summary>
internal sealed record EvaluateOptions
{
    /// <summary>The scorer names <c>--scorer</c> accepts.</summary>
    public static readonly string[] ScorerNames = ["nll", "complexity", "typicality", "dose", "llr", "stirring"];

    /// <summary>A saved flow, scorer or detector to evaluate instead of training a flow; null: train.</summary>
    public string? ModelPath { get; init; }

    /// <summary>Whether --scorer was given (for a saved scorer or detector it must not be).</summary>
    public bool ScorersGiven { get; init; }

    public string Flow { get; init; } = "glow";

    public int Steps { get; init; } = 600;

    public int BatchSize { get; init; } = 64;

    public int TrainImages { get; init; } = 20_000;

    public IReadOnlyList<string> Scorers { get; init; } = ["nll"];

    public IReadOnlyList<string> OodSets { get; init; } = Cli.OodSets.Defaults;

    public int EvaluationLimit { get; init; } = 2000;

    public double MutationRate { get; init; } = 0.05;

    public long Seed { get; init; } = 1;

    public string? OutputDirectory { get; init; }

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }
}

/// <summary>
/// <c>flowood evaluate</c>: trains one pixel flow on Fashion-MNIST, then reports AUROC, AUPR-Out and FPR@95%TPR of each
/// chosen scorer on Fashion-MNIST test vs every OOD set; with <c>--out</c>, one ROC plot per scorer.
/// </summary>
internal static class Evaluate
{
    private const int HeldOutStart = 50_000;
    private const int HeldOutCount = 2_000;

    public static int Run(EvaluateOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var total = Stopwatch.StartNew();
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var inTest = data.FashionTest.Take(Math.Min(options.EvaluationLimit, data.FashionTest.Count));
        var seed = (int)(options.Seed & int.MaxValue);
        var oodSets = options.OodSets.Select(name => OodSets.Load(name, data.FashionTest, options.DataDirectory, options.EvaluationLimit, seed)).ToList();
        var trainCount = Math.Min(options.TrainImages, HeldOutStart);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"In-distribution: {inTest.Name} ({inTest.Count} images); OOD: {string.Join(", ", oodSets.Select(s => $"{s.Name} ({s.Count})"))}; {get_num_threads()} threads."));

        if (options.ModelPath is { } path)
        {
            var names = options.ScorersGiven ? options.Scorers.Distinct().Select(n => (string?)n).ToList() : [null];
            var all = new List<OodResult>();
            foreach (var name in names)
            {
                using var model = DetectorVerbs.Load(path, name);
                var inScores = ScoringDisplay.Score(console, plain, $"scoring {inTest.Name}", model.Scorer, inTest, 0, inTest.Count);
                var rows = oodSets.Select(set => new OodResult(model.Scorer.Name, inTest.Name, set.Name, inScores,
                    ScoringDisplay.Score(console, plain, $"scoring {set.Name}", model.Scorer, set, 0, Math.Min(options.EvaluationLimit, set.Count)))).ToList();
                OodResult.Write(console, plain, $"{model.Scorer.Name} ({path}): {inTest.Name} (in-dist.) vs each OOD set, OOD = positive", rows);
                all.AddRange(rows);
            }

            if (options.OutputDirectory is { } folder)
            {
                Directory.CreateDirectory(folder);
                File.WriteAllText(Path.Combine(folder, "evaluate-model.md"), OodResult.Markdown(all));
                console.WriteLine($"Wrote evaluate-model.md to {folder}.");
            }

            return 0;
        }

        using var train = data.FashionTrain.ToTensor(0, trainCount);
        var training = new TrainingOptions { Steps = options.Steps, BatchSize = options.BatchSize, LearningRate = 1e-3, Seed = options.Seed, ProgressInterval = 25 };
        using var flow = FlowCache.Build(options.Seed, () => options.Flow == "glow"
            ? Glow.Create([1, 28, 28], new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 })
            : RealNvp.Create([1, 28, 28], RealNvpOptions.Compact));
        var trainer = new FlowTrainer(flow, training);
        var result = TrainingDisplay.Run(console, plain, $"training {options.Flow}", progress => trainer.Train(train, progress: progress));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {options.Flow} on {trainCount} Fashion-MNIST images: {result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s, final loss {result.FinalLoss:F3} bits/dim."));

        var owned = new List<IDisposable>();
        try
        {
            var all = new List<OodResult>();
            foreach (var name in options.Scorers.Distinct())
            {
                var scorer = CreateScorer(name, flow, train, data, options, owned, console, plain);
                owned.Add(scorer);
                var inScores = CompareScorers.Score(scorer, inTest, options.EvaluationLimit);
                var rows = oodSets.Select(set => new OodResult(scorer.Name, inTest.Name, set.Name, inScores, CompareScorers.Score(scorer, set, options.EvaluationLimit))).ToList();
                OodResult.Write(console, plain, $"{scorer.Name}: {inTest.Name} (in-dist.) vs each OOD set, OOD = positive", rows);
                all.AddRange(rows);
                if (options.OutputDirectory is { } folder)
                {
                    Plots.Roc(Path.Combine(folder, $"roc-{options.Flow}-{name}"), $"{scorer.Name} ({options.Flow})", rows);
                }
            }

            if (options.OutputDirectory is { } output)
            {
                File.WriteAllText(Path.Combine(output, $"evaluate-{options.Flow}.md"), OodResult.Markdown(all));
                console.WriteLine($"Wrote ROC plots and evaluate-{options.Flow}.md to {output}.");
            }
        }
        finally
        {
            foreach (var item in owned)
            {
                item.Dispose();
            }
        }

        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Total time {total.Elapsed.TotalMinutes:F1} min."));
        return 0;
    }

    private static IOodScorer CreateScorer(
        string name, NormalizingFlow flow, Tensor train, SampleData data, EvaluateOptions options, List<IDisposable> owned, IAnsiConsole console, bool plain)
    {
        switch (name)
        {
            case "nll":
                return new NegativeLogLikelihoodScorer(flow);
            case "complexity":
                return new InputComplexityScorer(flow, new PngCompressor());
            case "typicality":
                {
                    using var heldOut = data.FashionTrain.ToTensor(HeldOutStart, HeldOutCount);
                    return TypicalityScorer.Fit(flow, heldOut);
                }

            case "dose":
                {
                    using var heldOut = data.FashionTrain.ToTensor(HeldOutStart, HeldOutCount);
                    return DoseScorer.Fit(flow, heldOut);
                }

            case "stirring":
                {
                    using var heldOut = data.FashionTrain.ToTensor(HeldOutStart, HeldOutCount);
                    return StirringScorer.Fit(flow, heldOut);
                }

            case "llr":
                {
                    var background = TrainingDisplay.Run(console, plain, "fine-tuning the llr background", progress => LikelihoodRatioScorer.FineTuneBackground(
                        flow, train, options.MutationRate,
                        new TrainingOptions { Steps = options.Steps, BatchSize = options.BatchSize, LearningRate = 1e-3, Seed = options.Seed + 1000, ProgressInterval = 25 },
                        progress));
                    owned.Add(background);
                    return new LikelihoodRatioScorer(flow, background);
                }

            default:
                throw new ArgumentException($"Unknown scorer '{name}'; expected one of {string.Join(", ", EvaluateOptions.ScorerNames)}.", nameof(name));
        }
    }
}
