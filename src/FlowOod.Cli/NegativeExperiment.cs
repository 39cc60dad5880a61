using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood negative</c>. Null overrides take the budget's value.</summary>
internal sealed record NegativeOptions : ExperimentOptions
{
    /// <summary>The bound of the negatives' loss, bits/dim (default: the paper's 30000 nats per 28×28 image).</summary>
    public double BoundBitsPerDim { get; init; } = NegativeTrainingOptions.PaperBoundBitsPerDim;

    /// <summary>Replaces the budget's model (tests run the experiment with a tiny one); null: the budget's.</summary>
    public BaselineModel? Model { get; init; }

    public BaselineModel EffectiveModel => Model ?? NegativeExperiment.ModelOf(Budget);

    public int EffectiveSteps => Steps ?? EffectiveModel.Steps;

    /// <summary>Fashion-MNIST training images (standard: 0–49,999, so the training curve's held-out images start at 50,000).</summary>
    public int EffectiveTrainImages => TrainImages ?? Budget switch { Budget.Quick => 20_000, Budget.Standard => 50_000, _ => 60_000 };

    /// <summary>Images scored per set (at most 5,000 for the held-out MNIST half).</summary>
    public int EffectiveEvaluationLimit => EvaluationLimit ?? Budget switch { Budget.Quick or Budget.Standard => 2_000, _ => 10_000 };
}

/// <summary>One row of the negative-training table: a model's mean bits/dim and its AUROC per OOD set.</summary>
internal sealed record NegativeRow(string Model, double FashionTestBitsPerDim, double MnistHeldOutBitsPerDim, IReadOnlyList<OodResult> Results);

/// <summary>What <see cref="NegativeExperiment.Run"/> produced.</summary>
internal sealed record NegativeReport(IReadOnlyList<NegativeRow> Rows, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// Experiment 5 (Kirichenko et al. 2020, App. B): the same flow trained twice on Fashion-MNIST with the same seed and
/// steps, by maximum likelihood and by negative training with MNIST digits 0–4,999 as negatives; both evaluated on
/// Fashion-MNIST test vs MNIST digits 5,000–9,999 and vs every synthetic OOD set; bits/dim histograms, ROC curves and
/// a Markdown fragment <c>negative.md</c>.
/// </summary>
internal static class NegativeExperiment
{
    /// <summary>MNIST test digits below this index are negatives; the rest are the held-out OOD evaluation set.</summary>
    public const int NegativeDigits = 5_000;

    /// <summary>
    /// The model of the budget: quick, the baseline's small Glow (fast on a CPU; negative training costs about twice a
    /// plain step, two forward passes); standard, the same Glow 1,500 steps (96,000 images seen, as the baseline's Glow);
    /// full, the compact Glow preset.
    /// </summary>
    /// <remarks>
    /// Standard's time, from the quick run on 2 cores (400 steps: 22 s maximum likelihood, 34 s negative training; 16,000
    /// images scored per model in about 3 s): 1,500 steps take about 85 s + 130 s, scoring 2 × 18,000 images about 10 s,
    /// held-out curves and plots about 20 s: about 4 min.
    /// </remarks>
    public static BaselineModel ModelOf(Budget budget) => budget switch
    {
        Budget.Quick => SmallGlow(400),
        Budget.Standard => SmallGlow(1_500),
        _ => new("glow", "Glow, compact preset (2 scales × 8 steps, width 64)", 3000, () => Glow.Create([1, 28, 28], GlowOptions.Compact)),
    };

    private static BaselineModel SmallGlow(int steps) =>
        new("glow", "Glow (2 scales × 4 steps, width 32)", steps, () => Glow.Create([1, 28, 28], new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 }));

    public static NegativeReport Run(NegativeOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var (data, total) = options.Start();
        if (data.Mnist.Count <= NegativeDigits)
        {
            throw new ArgumentException($"Negative training needs more than {NegativeDigits} MNIST digits (half negatives, half held out); found {data.Mnist.Count}.");
        }

        var limit = options.EffectiveEvaluationLimit;
        var inTest = ExperimentOptions.TestImages(data, limit);
        var mnistHeldOut = Slice(data.Mnist, NegativeDigits, Math.Min(limit, data.Mnist.Count - NegativeDigits),
            $"MNIST held-out (test digits {NegativeDigits}–{data.Mnist.Count - 1})");
        var oodSets = new List<ImageDataset> { mnistHeldOut };
        oodSets.AddRange(SyntheticOodSets.Names.Select(name => SyntheticOodSets.Create(name, inTest, options.NoiseSeed)));
        var trainCount = Math.Min(options.EffectiveTrainImages, data.FashionTrain.Count);
        var model = options.EffectiveModel;
        var steps = options.EffectiveSteps;
        var bound = new NegativeTrainingOptions { BoundBitsPerDim = options.BoundBitsPerDim };
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {model.Stem} {steps} steps × {options.BatchSize} images (negative training: plus {options.BatchSize} negatives a step), Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images, {NegativeDigits} MNIST negatives (test digits 0–{NegativeDigits - 1}), bound {options.BoundBitsPerDim:F2} bits/dim "
            + $"({options.BoundBitsPerDim * 784 * Math.Log(2):F0} nats per 28×28 image), {inTest.Count} images per evaluation set, seed {options.Seed}");
        console.WriteLine($"Negative training ({budgetText}); {get_num_threads()} threads.");

        var rows = new List<NegativeRow>();
        var files = new List<string>();
        var sections = new StringBuilder();
        using var train = data.FashionTrain.ToTensor(0, trainCount);
        using var negatives = data.Mnist.ToTensor(0, NegativeDigits);
        var (heldOutStart, heldOutCount) = FlowCache.HeldOut(data.FashionTrain.Count, trainCount, steps, options.BatchSize);
        using var heldOut = heldOutCount > 0 ? data.FashionTrain.ToTensor(heldOutStart, heldOutCount) : null;
        var heldOutText = heldOut is null ? null
            : string.Create(CultureInfo.InvariantCulture, $"{heldOutCount} Fashion-MNIST training images {heldOutStart}–{heldOutStart + heldOutCount - 1}");
        foreach (var (stem, label, useNegatives) in new[] { ("ml", "maximum likelihood", false), ("negative", "negative training", true) })
        {
            using var flow = FlowCache.Build(options.Seed, model.Build);
            var clock = Stopwatch.StartNew();
            var trainer = new FlowTrainer(flow, new TrainingOptions
            {
                Steps = steps,
                BatchSize = options.BatchSize,
                LearningRate = 1e-3,
                Seed = options.Seed,
                ProgressInterval = Math.Max(1, steps / 50),
                EvaluationInterval = TrainingCurve.EvaluationInterval(steps),
                Precision = options.EffectivePrecision,
            });
            var curve = new TrainingCurve($"{model.Stem}, {label}", Math.Min(options.BatchSize, trainCount), heldOutText);
            var trained = TrainingDisplay.Run(console, plain, $"training {stem}", progress => useNegatives
                ? trainer.TrainWithNegatives(train, negatives, bound, heldOut, curve.Recording(progress))
                : trainer.Train(train, heldOut, curve.Recording(progress)));
            files.AddRange(curve.Write(options.OutputDirectory, $"negative-{stem}"));
            var trainedText = string.Create(CultureInfo.InvariantCulture,
                $"{model.Description}, {label}: {trained.Steps} steps in {trained.Elapsed.TotalSeconds:F0} s, final in-dist. loss {trained.FinalLoss:F3} bits/dim")
                + (trained.NegativeLoss is { } n ? string.Create(CultureInfo.InvariantCulture, $", negatives' loss {n:F3} bits/dim") : string.Empty);
            console.WriteLine(trainedText + ".");

            using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
            var inScores = CompareScorers.Score(scorer, inTest, limit);
            var results = oodSets.Select(o => new OodResult($"{stem} NLL (bits/dim)", inTest.Name, o.Name, inScores, CompareScorers.Score(scorer, o, limit))).ToList();
            rows.Add(new NegativeRow(label, inScores.Average(), results[0].OodScores.Average(), results));
            var scoredText = string.Create(CultureInfo.InvariantCulture, $"scored {inScores.Length + results.Sum(r => r.OodScores.Length)} images; model total {clock.Elapsed.TotalSeconds:F0} s");
            console.WriteLine(scoredText + ".");

            var histogram = Path.Combine(options.OutputDirectory, $"negative-{stem}-bits-per-dim");
            Plots.Histogram(histogram, $"{label}: bits/dim, Fashion-MNIST test vs OOD sets", "bits/dim (lower = more likely)",
                [(inTest.Name + " (in-dist.)", inScores), .. results.Select(r => (r.OutOfDistribution, r.OodScores))]);
            var roc = Path.Combine(options.OutputDirectory, $"negative-{stem}-roc");
            Plots.Roc(roc, $"{label}: ROC, score = bits/dim, OOD = positive", results);
            foreach (var stemPath in new[] { histogram, roc })
            {
                files.Add(stemPath + ".png");
                files.Add(stemPath + ".svg");
            }

            sections.AppendLine(CultureInfo.InvariantCulture, $"### {char.ToUpperInvariant(label[0])}{label[1..]}").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"{trainedText}; {scoredText}.").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{stem} bits/dim histogram]({Path.GetFileName(histogram)}.png) ![{stem} ROC]({Path.GetFileName(roc)}.png)").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{stem} training curve (Fashion-MNIST training and held-out bits/dim)](negative-{stem}-training.png)").AppendLine();
        }

        var table = Table(rows);
        console.WriteLine("Negative training vs maximum likelihood (AUROC: score = bits/dim, OOD = positive):");
        console.WriteLine();
        console.Write(new Text(table));
        console.WriteLine();
        var markdownPath = Path.Combine(options.OutputDirectory, "negative.md");
        var page = new StringBuilder()
            .AppendLine("## Experiment 5: negative training (App. B)").AppendLine()
            .AppendLine("The same flow trained twice from the same initialisation, seed and steps on Fashion-MNIST: by maximum likelihood, and by "
                + "negative training, L = ½·(mean NLL of the Fashion-MNIST batch − mean NLL of the MNIST negatives still below the bound), "
                + "or the Fashion-MNIST NLL alone when every negative of the batch is past the bound. Score: bits/dim (higher = more OOD); "
                + "AUROC below 0.5 means the OOD set is found *more* likely than Fashion-MNIST test.").AppendLine()
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"MNIST test digits are our only MNIST source, so the negatives (digits 0–{NegativeDigits - 1}) and the held-out ")
                + string.Create(CultureInfo.InvariantCulture, $"evaluation digits (from {NegativeDigits} on) are disjoint halves of the same 10,000.")
                + " The synthetic sets (made from Fashion-MNIST test: uniform noise, constant gray, inverted, h/v-flipped, 3×3 blur) were never seen in training by either model.").AppendLine()
            .Append(table).AppendLine()
            .Append(sections)
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new NegativeReport(rows, files, markdownPath, total.Elapsed);
    }

    /// <summary>The Markdown table: model, mean bits/dim of Fashion-MNIST test and held-out MNIST, AUROC per OOD set.</summary>
    public static string Table(IReadOnlyList<NegativeRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sets = SetKeys.Take(rows[0].Results.Count).ToList();
        var text = new StringBuilder();
        text.Append("| model | bits/dim Fashion test | bits/dim MNIST held-out | ").AppendJoin(" | ", sets.Select(s => $"AUROC {s}")).AppendLine(" |");
        text.Append("|---|---:|---:|").AppendJoin(string.Empty, sets.Select(_ => "---:|")).AppendLine();
        foreach (var row in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {row.Model} | {row.FashionTestBitsPerDim:F3} | {row.MnistHeldOutBitsPerDim:F3} | ")
                .AppendJoin(" | ", row.Results.Select(r => r.Auroc.ToString("F3", CultureInfo.InvariantCulture))).AppendLine(" |");
        }

        return text.ToString();
    }

    /// <summary>The short names of the OOD sets, in the order they are evaluated: held-out MNIST, then the synthetic sets.</summary>
    public static IReadOnlyList<string> SetKeys { get; } = ["MNIST held-out", .. SyntheticOodSets.Names];

    private static ImageDataset Slice(ImageDataset source, int start, int count, string name)
    {
        var size = source.Height * source.Width;
        return new ImageDataset(name, source.Height, source.Width, source.Pixels.Span.Slice(start * size, count * size), source.Labels.Span.Slice(start, count));
    }
}
