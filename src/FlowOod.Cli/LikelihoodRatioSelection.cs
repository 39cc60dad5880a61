using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Data;
using FlowOod.Scoring;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood llr-select</c>.</summary>
internal sealed record LikelihoodRatioSelectionOptions : ExperimentOptions
{
    /// <summary>The default grid: fine-tuned backgrounds at four mutation rates and Ren et al.'s from-scratch background.</summary>
    public static readonly LikelihoodRatioSetting[] DefaultGrid =
    [
        new(false, 0.05), new(false, 0.1), new(false, 0.2), new(false, 0.3),
        new(true, 0.1),
    ];

    public string Flow { get; init; } = "glow";

    public IReadOnlyList<LikelihoodRatioSetting> Grid { get; init; } = DefaultGrid;

    /// <summary>Also report each setting's AUROC on MNIST (never used to choose).</summary>
    public bool ReportMnist { get; init; } = true;

    /// <summary>Replaces the budget's model (tests); null: the baseline's model named by <see cref="Flow"/>.</summary>
    public BaselineModel? Model { get; init; }

    public FlowCache? Cache { get; init; }

    public int EffectiveTrainImages => TrainImages ?? (Budget == Budget.Quick ? 20_000 : 50_000);

    /// <summary>
    /// Images per validation set (in-distribution, each shift, MNIST), at most <see cref="LikelihoodRatioSelection.MaxValidationImages"/>:
    /// quick 1,000, standard and full 2,000.
    /// </summary>
    /// <remarks>
    /// Standard's time, from the quick run on 2 cores (165 s: five backgrounds of the small Glow, 600 steps each, about
    /// 25 s apiece, and 10 scorers on 4 × 1,000 images): five backgrounds of 1,500 steps about 5.5 min, scoring 4 × 2,000
    /// images with 10 scorers about 0.5 min; the foreground is the baseline's Glow: about 6 min.
    /// </remarks>
    public int EffectiveEvaluationLimit => Math.Min(LikelihoodRatioSelection.MaxValidationImages, EvaluationLimit ?? (Budget == Budget.Quick ? 1_000 : 2_000));
}

/// <summary>One background setting's validation AUROCs (and MNIST's, reported only).</summary>
internal sealed record SelectionRow(LikelihoodRatioSetting? Setting, IReadOnlyList<double> ValidationAuroc, double? MnistAuroc)
{
    public double MeanValidation => ValidationAuroc.Average();
}

/// <summary>What <see cref="LikelihoodRatioSelection.Run"/> produced.</summary>
internal sealed record SelectionReport(IReadOnlyList<SelectionRow> Rows, LikelihoodRatioSetting Chosen, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// Chooses how the likelihood ratio's background is made without looking at any evaluation OOD set: the validation
/// in-distribution images are Fashion-MNIST training images 52,000–52,999 (never trained on), the validation OOD sets are
/// the vertically flipped and the blurred Fashion-MNIST training images 53,000–53,999: one changes what the image shows
/// and keeps its pixel statistics, the other keeps the garment and smooths the pixels, the two confounds a likelihood ratio
/// must separate. Each background is scored one-sided and two-sided (<see cref="TwoSidedScorer"/>, fitted on training
/// images 50,000–50,999). The setting with the highest mean validation AUROC wins; the sets reported elsewhere never take part.
/// </summary>
internal static class LikelihoodRatioSelection
{
    /// <summary>The synthetic sets the choice is made on; <c>scorers</c> never reports them.</summary>
    public static readonly string[] ValidationSets = ["vflip", "blur"];

    /// <summary>The largest validation set: images 52,000 … 55,999 in-distribution, 56,000 … 59,999 shifted.</summary>
    public const int MaxValidationImages = 4_000;

    private const int FitStart = 50_000;
    private const int FitCount = 2_000;
    private const int ValidationInStart = 52_000;

    public static SelectionReport Run(LikelihoodRatioSelectionOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var (data, total) = options.Start();
        var count = options.EffectiveEvaluationLimit;
        var oodStart = ValidationInStart + count;
        if (data.FashionTrain.Count < oodStart + count)
        {
            throw new ArgumentException($"llr-select needs the 60,000 Fashion-MNIST training images; found {data.FashionTrain.Count}.");
        }

        var model = options.Model ?? BaselineExperiment.Models(options.Budget).Single(m => m.Stem == options.Flow);
        var steps = options.Steps ?? model.Steps;
        var trainCount = Math.Min(options.EffectiveTrainImages, 50_000);
        var validationIn = Slice(data.FashionTrain, ValidationInStart, count, string.Create(CultureInfo.InvariantCulture, $"Fashion-MNIST train {ValidationInStart}–{oodStart - 1}"));
        var oodSource = Slice(data.FashionTrain, oodStart, count, string.Create(CultureInfo.InvariantCulture, $"Fashion-MNIST train {oodStart}–{oodStart + count - 1}"));
        var validationOod = ValidationSets.Select(name => SyntheticOodSets.Create(name, oodSource, options.NoiseSeed)).ToList();
        var mnist = data.Mnist.Take(Math.Min(count, data.Mnist.Count));
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {model.Stem} {steps} steps × {options.BatchSize} images and each background as many, Adam lr 0.001, {trainCount} Fashion-MNIST training images, "
            + $"{count} images per validation set, {options.Grid.Count} settings, seed {options.Seed}");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"llr-select ({budgetText}); validation {validationIn.Name} vs {string.Join(", ", validationOod.Select(s => s.Name))}; {get_num_threads()} threads."));

        using var ownCache = options.Cache is null ? new FlowCache(options.EffectivePrecision) : null;
        var cache = options.Cache ?? ownCache!;
        var foreground = cache.GetOrTrain(model, steps, options.BatchSize, data.FashionTrain, trainCount, options.Seed, console, plain, options.EffectivePrecision);
        using var train = data.FashionTrain.ToTensor(0, trainCount);
        var rows = new List<SelectionRow>();
        using (var nll = new NegativeLogLikelihoodScorer(foreground.Flow))
        {
            rows.Add(Row(null, nll, validationIn, validationOod, options.ReportMnist ? mnist : null));
        }

        using var fit = data.FashionTrain.ToTensor(FitStart, Math.Min(count, FitCount));
        foreach (var setting in options.Grid.Select(g => g.WithSides(false)).Distinct())
        {
            // One background, scored one-sided and two-sided (centre and spread from images 50,000 on).
            using var background = setting.Background(foreground.Flow, model.Build, train, steps, options.BatchSize, options.Seed, console, plain, options.EffectivePrecision);
            foreach (var variant in new[] { setting, setting.WithSides(true) })
            {
                using var scorer = variant.Scorer(foreground.Flow, background, fit);
                var row = Row(variant, scorer, validationIn, validationOod, options.ReportMnist ? mnist : null);
                console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{variant.Label}: validation AUROC {string.Join(" / ", row.ValidationAuroc.Select(F))} (mean {F(row.MeanValidation)})."));
                rows.Add(row);
            }
        }

        var candidates = rows.Where(r => r.Setting is not null).ToList();
        var best = candidates.OrderByDescending(r => r.MeanValidation).First();
        var table = Terminal.NewTable(plain, "Likelihood-ratio background: validation AUROC (the choice), MNIST (reported only)");
        table.AddColumn("background");
        foreach (var set in ValidationSets)
        {
            table.AddColumn(new TableColumn($"AUROC {set}").RightAligned());
        }

        table.AddColumn(new TableColumn("mean").RightAligned());
        table.AddColumn(new TableColumn("AUROC mnist").RightAligned());

        foreach (var r in rows)
        {
            table.AddRow([Markup.Escape(Label(r, best)), .. r.ValidationAuroc.Select(F), F(r.MeanValidation), r.MnistAuroc is { } m ? F(m) : "—"]);
        }

        console.Write(table);
        console.WriteLine($"Chosen: {best.Setting!.Label}.");
        var markdownPath = Path.Combine(options.OutputDirectory, "llr-select.md");
        var page = new StringBuilder()
            .AppendLine("## Choosing the likelihood ratio's background without an evaluation OOD set").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Foreground: {foreground.Summary}. Each background below is scored as log p_bg − log p_fg on {validationIn.Name} (in-dist.) "
                + $"vs the vertically flipped and the blurred {oodSource.Name}; the highest mean validation AUROC wins. MNIST's column is shown to explain the method, never used to choose.").AppendLine()
            .AppendLine("| background | " + string.Join(" | ", ValidationSets.Select(s => $"AUROC {s}")) + " | mean | AUROC mnist (not used) |")
            .AppendLine("|---|" + string.Concat(ValidationSets.Select(_ => "---:|")) + "---:|---:|");
        foreach (var r in rows)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"| {Label(r, best)} | {string.Join(" | ", r.ValidationAuroc.Select(F))} | {F(r.MeanValidation)} | {(r.MnistAuroc is { } m ? F(m) : "—")} |");
        }

        page.AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Chosen: **{best.Setting.Label}**.").AppendLine()
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        return new SelectionReport(rows, best.Setting, [markdownPath], markdownPath, total.Elapsed);
    }

    private static string Label(SelectionRow row, SelectionRow best) =>
        row.Setting is null ? "none (raw NLL, for reference)" : ReferenceEquals(row, best) ? $"**{row.Setting.Label}** (chosen)" : row.Setting.Label;

    private static SelectionRow Row(LikelihoodRatioSetting? setting, IOodScorer scorer, ImageDataset validationIn, IReadOnlyList<ImageDataset> validationOod, ImageDataset? mnist)
    {
        var inScores = CompareScorers.Score(scorer, validationIn, validationIn.Count);
        var auroc = validationOod.Select(set => Metrics.OodMetrics.Auroc(inScores, CompareScorers.Score(scorer, set, set.Count))).ToList();
        double? onMnist = mnist is null ? null : Metrics.OodMetrics.Auroc(inScores, CompareScorers.Score(scorer, mnist, mnist.Count));
        return new SelectionRow(setting, auroc, onMnist);
    }

    /// <summary>Images <paramref name="start"/> … start + count − 1 of <paramref name="source"/> as a dataset of their own.</summary>
    public static ImageDataset Slice(ImageDataset source, int start, int count, string name)
    {
        ArgumentNullException.ThrowIfNull(source);
        var size = source.Height * source.Width;
        return new ImageDataset(name, source.Height, source.Width, source.Pixels.Span.Slice(start * size, count * size), source.Labels.Span.Slice(start, count));
    }

    private static string F(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
