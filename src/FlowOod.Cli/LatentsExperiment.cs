using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Analysis;
using FlowOod.Models;
using FlowOod.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood latents</c>. Null overrides take the budget's value.</summary>
internal sealed record LatentsOptions : ExperimentOptions
{
    /// <summary>Dequantization draws averaged (the paper: 40).</summary>
    public int Draws { get; init; } = 40;

    /// <summary>Images of the same set in the batch whose statistics normalise the shown image (BatchNorm batch mode).</summary>
    public int StatisticsBatch { get; init; } = 16;

    /// <summary>Replaces the budget's models (tests); null: the budget's.</summary>
    public IReadOnlyList<BaselineModel>? Models { get; init; }

    /// <summary>Where trained flows are found and kept (<c>reproduce</c> shares one between experiments); null: a cache of the run's own.</summary>
    public FlowCache? Cache { get; init; }

    /// <summary>Images per set of the layout measure (<see cref="LatentLayout"/>); null: <c>--limit</c>
    /// (<see cref="ExperimentOptions.EvaluationLimit"/>) if given, else 500 (the verdict's 95% interval is then about
    /// ±3 points of share wide).</summary>
    public int? LayoutImages { get; init; }

    /// <summary>
    /// Dequantization draws averaged into z̄ for the layout measure; null: the budget's (quick 8; full 4, since the full
    /// RealNVP costs about 12 times the compact one per forward pass: measured at quick, 1,000 images × 8 draws took 94 s
    /// for the compact RealNVP and 6 s for the quick Glow on 2 threads).
    /// </summary>
    public int? LayoutDraws { get; init; }

    public int EffectiveLayoutImages => LayoutImages ?? EvaluationLimit ?? 500;

    public int EffectiveLayoutDraws => LayoutDraws ?? (Budget == Budget.Quick ? 8 : 4);

    public int EffectiveSteps(BaselineModel model) => Steps ?? model.Steps;

    public int EffectiveTrainImages => TrainImages ?? (Budget == Budget.Quick ? 20_000 : 60_000);
}

/// <summary>
/// What <see cref="LatentsExperiment.Run"/> produced: one row per model, image and latent kind of the pictures, and the
/// layout measure over many images per model and set (<see cref="LatentLayout"/>).
/// </summary>
internal sealed record LatentsReport(IReadOnlyList<LatentRow> Rows, IReadOnlyList<LatentLayoutSummary> Layout, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>One latent shown: Spearman ρ(|z|, the image's Sobel edge strength) over its pixels, and the mean |z|.</summary>
internal sealed record LatentRow(string Model, string Image, string Latent, double EdgeCorrelation, double MeanAbs);

/// <summary>
/// Experiment 2 (Kirichenko et al. 2020, Sec. 5; reference §3.4): Glow and RealNVP trained on Fashion-MNIST; for one
/// Fashion-MNIST test image and one MNIST digit, the image, its latent z from a single dequantization draw and the mean
/// of z over 40 draws, each at its pixel position (<see cref="LatentView"/>); for RealNVP also with BatchNorm batch
/// statistics. Latents are clipped to [−2, 2] and drawn black (−2) to white (+2). Then the layout measure
/// (<see cref="LatentLayout"/>) over the first N images of each set, against a shuffled-image null.
/// </summary>
internal static class LatentsExperiment
{
    /// <summary>The clipping range of the latent pictures.</summary>
    public const double Clip = 2.0;

    /// <summary>
    /// The budget's models: the baseline's, with fewer steps at the quick budget (the pictures need a trained model,
    /// not a converged one).
    /// </summary>
    public static IReadOnlyList<BaselineModel> Models(Budget budget) => budget == Budget.Quick
        ? BaselineExperiment.Models(budget).Select(m => m with { Steps = m.Stem == "realnvp" ? 60 : 300 }).ToList()
        : BaselineExperiment.Models(budget);

    public static LatentsReport Run(LatentsOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var total = Stopwatch.StartNew();
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var trainCount = Math.Min(options.EffectiveTrainImages, data.FashionTrain.Count);
        Directory.CreateDirectory(options.OutputDirectory);
        var models = options.Models ?? Models(options.Budget);
        var statisticsBatch = Math.Max(2, options.StatisticsBatch);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {string.Join(", ", models.Select(m => $"{m.Stem} {options.EffectiveSteps(m)} steps"))} × {options.BatchSize} images, Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images, {options.Draws} dequantization draws, BatchNorm batch statistics over {statisticsBatch} images of the image's set, "
            + $"layout measure on {options.EffectiveLayoutImages} images per set × {options.EffectiveLayoutDraws} draws, seed {options.Seed}");
        console.WriteLine($"Latents ({budgetText}); {get_num_threads()} threads.");
        var sets = new[] { (Name: "Fashion-MNIST test image 0", Set: data.FashionTest), (Name: "MNIST test digit 0", Set: data.Mnist) };

        var rows = new List<LatentRow>();
        var layout = new List<LatentLayoutSummary>();
        var layoutSettings = new LatentLayoutSettings { Images = options.EffectiveLayoutImages, Draws = options.EffectiveLayoutDraws, Seed = options.Seed, BatchSize = options.BatchSize };
        var files = new List<string>();
        var sections = new StringBuilder();
        using var ownCache = options.Cache is null ? new FlowCache(options.EffectivePrecision) : null;
        var cache = options.Cache ?? ownCache!;
        foreach (var model in models)
        {
            var trained = cache.GetOrTrain(model, options.EffectiveSteps(model), options.BatchSize, data.FashionTrain, trainCount, options.Seed, console, plain, evaluateHeldOut: true);
            var flow = trained.Flow;
            var trainedText = trained.Summary;
            flow.eval();

            var kinds = new List<(string Label, BatchNormStatistics Statistics, int Draws)>
            {
                ("z (1 draw)", BatchNormStatistics.Running, 1),
                (string.Create(CultureInfo.InvariantCulture, $"z (mean of {options.Draws})"), BatchNormStatistics.Running, options.Draws),
            };
            if (HasBatchNorm(flow))
            {
                kinds.Add(("z, BatchNorm batch statistics (1 draw)", BatchNormStatistics.Batch, 1));
                kinds.Add((string.Create(CultureInfo.InvariantCulture, $"z, BatchNorm batch statistics (mean of {options.Draws})"), BatchNormStatistics.Batch, options.Draws));
            }

            var panels = new List<float>();
            var clock = Stopwatch.StartNew();
            foreach (var (setName, set) in sets)
            {
                using var scope = NewDisposeScope();
                var batch = set.ToTensor(0, Math.Min(statisticsBatch, set.Count));
                var image = batch[..1];
                var pixels = image.to(ScalarType.Float32).cpu().data<float>().ToArray();
                panels.AddRange(pixels);
                foreach (var (label, statistics, draws) in kinds)
                {
                    // Batch statistics come from a batch of the image's own set; the shown latent is its first image's.
                    var input = statistics == BatchNormStatistics.Batch ? batch : image;
                    var latent = LatentView.Latents(flow, input, ScoringNoise.SeededStream((ulong)options.Seed), draws, statistics)[..1];
                    var atPixels = LatentView.ToPixelLayout(flow, latent).to(ScalarType.Float32).cpu().data<float>().ToArray();
                    rows.Add(new LatentRow(model.Stem, setName, label, EdgeCorrelation(pixels, atPixels, set.Height, set.Width), atPixels.Average(v => Math.Abs((double)v))));
                    panels.AddRange(atPixels.Select(v => (float)((Math.Clamp(v, -Clip, Clip) + Clip) / (2 * Clip))));
                }
            }

            var columns = kinds.Count + 1;
            var grid = Path.Combine(options.OutputDirectory, $"{model.Stem}-latents");
            Plots.ImageGrid(grid, $"{model.Stem}: latents z at pixel positions",
                panels.ToArray(), sets.Length * columns, 28, 28, columns,
                columnLabels: ["image", .. kinds.Select(k => ShortLabel(k.Label))],
                rowLabels: sets.Select(s => s.Name.Replace(" test ", " test\n", StringComparison.Ordinal)).ToArray(),
                note: "z clipped to [−2, 2]: black −2, gray 0, white +2");
            files.Add(grid + ".png");
            files.Add(grid + ".svg");
            files.AddRange(trained.Curve.Write(options.OutputDirectory, model.Stem));
            var pictureSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var measured = LatentLayout.Measure(flow, model.Stem, [data.FashionTest, data.Mnist], layoutSettings);
            layout.AddRange(measured);
            var latentText = string.Create(CultureInfo.InvariantCulture,
                $"latents of 2 images in {pictureSeconds:F0} s; layout measure on {string.Join(" + ", measured.Select(m => m.Images))} images in {clock.Elapsed.TotalSeconds:F0} s");
            console.WriteLine(latentText + ".");
            sections.AppendLine(CultureInfo.InvariantCulture, $"### {model.Description}").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"{trainedText}; {latentText}.").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"Rows: {string.Join(", ", sets.Select(s => s.Name))}. Columns: image; {string.Join("; ", kinds.Select(k => k.Label))}. Latents clipped to [−2, 2], black −2, white +2.").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{model.Stem} latents]({Path.GetFileName(grid)}.png) ![{model.Stem} training curve]({model.Stem}-training.png)").AppendLine();
        }

        var table = Terminal.NewTable(plain, "Latent layout over many images: own image's content vs a shuffled image's");
        foreach (var header in new[] { "model", "set", "images", "own [5-95%]", "shuffled [5-95%]", "gain [95% CI]", "own > shuffled [95% CI]", "rho(|z|, edges)", "kept" })
        {
            table.AddColumn(new TableColumn(Markup.Escape(header)));
        }

        foreach (var s in layout)
        {
            table.AddRow(Markup.Escape(s.Model), Markup.Escape(s.Set), s.Images.ToString(CultureInfo.InvariantCulture), Markup.Escape(s.Own.ToString()), Markup.Escape(s.Shuffled.ToString()),
                Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{s.Gain:F3} [{s.GainLow:F3}, {s.GainHigh:F3}]")),
                Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{s.Wins * 100:F1}% [{s.WinsLow * 100:F1}%, {s.WinsHigh * 100:F1}%]")), Markup.Escape(s.Edges.ToString()), s.Kept ? "yes" : "no");
        }

        console.Write(table);
        var markdownPath = Path.Combine(options.OutputDirectory, "latents.md");
        var page = new StringBuilder()
            .AppendLine("## Experiment 2: latents at pixel positions (Kirichenko et al. 2020, Sec. 5)").AppendLine()
            .AppendLine("Each latent coordinate is drawn at the pixel whose value it encodes (the reshape model: couplings replaced by the identity, "
                + "only squeezes, splits and permutations inverted). If the latent keeps the image's layout, the digit or garment is visible in z: in the pictures "
                + "as a pattern of large and small |z| (on the edges, or inside the object), not as z following the pixel values.").AppendLine()
            .AppendLine(LatentLayout.Rule(options.EffectiveLayoutDraws)).AppendLine()
            .Append(LatentLayout.MarkdownTable(layout)).AppendLine()
            .AppendLine("The pictures below, per latent shown (image 0 of each set): ρ(|z|, edges) over its pixels and the mean |z|.").AppendLine()
            .AppendLine("| model | image | latent | ρ(\\|z\\|, edges) | mean abs(z) |")
            .AppendLine("|---|---|---|---:|---:|");
        foreach (var r in rows)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"| {r.Model} | {r.Image} | {r.Latent} | {F(r.EdgeCorrelation)} | {F(r.MeanAbs)} |");
        }

        page.AppendLine()
            .Append(sections)
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new LatentsReport(rows, layout, files, markdownPath, total.Elapsed);
    }

    private static string F(double x) => x.ToString("F3", CultureInfo.InvariantCulture);

    // A column label for the grid: "z, BatchNorm batch statistics (mean of 8)" → "z (batch BN)\nmean of 8".
    private static string ShortLabel(string label) =>
        label.Replace(", BatchNorm batch statistics", " (batch BN)", StringComparison.Ordinal)
            .Replace(" (mean", "\nmean", StringComparison.Ordinal).Replace(" (1 draw", "\n1 draw", StringComparison.Ordinal).TrimEnd(')');

    private static bool HasBatchNorm(NormalizingFlow flow) =>
        flow.named_buffers().Any(b => b.name.EndsWith("running_mean", StringComparison.Ordinal));

    /// <summary>Spearman ρ over pixels between |z| and the Sobel edge strength of the image (one channel each).</summary>
    private static double EdgeCorrelation(float[] image, float[] latent, int height, int width) =>
        LatentLayout.Spearman(latent.Select(v => Math.Abs((double)v)).ToArray(), LatentLayout.Sobel(image.Select(v => (double)v).ToArray(), height, width));
}
