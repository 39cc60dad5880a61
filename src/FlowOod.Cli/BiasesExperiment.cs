using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Conditioners;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Which comparisons a model of <c>flowood biases</c> belongs to.</summary>
internal enum BiasesFamily
{
    /// <summary>The same-depth checkerboard baseline, in both comparisons.</summary>
    Baseline,

    /// <summary>Another mask with the baseline's st-network (cycle-mask, horizontal).</summary>
    Mask,

    /// <summary>The baseline's masks with an l-bottleneck st-network.</summary>
    Bottleneck,
}

/// <summary>One model of experiment 4: file stem, description, comparison family and builder.</summary>
internal sealed record BiasesModel(string Stem, string Description, BiasesFamily Family, Func<NormalizingFlow> Build);

/// <summary>Options of <c>flowood biases</c>. Null overrides take the budget's value.</summary>
internal sealed record BiasesOptions : ExperimentOptions
{
    /// <summary>Held-out in-distribution images start at this Fashion-MNIST training index.</summary>
    public const int HeldOutStart = 50_000;

    /// <summary>Evaluations during training (every steps/Checkpoints steps, and after the last step).</summary>
    public const int Checkpoints = 8;

    /// <summary>l of the bottleneck sweep; null: the budget's.</summary>
    public IReadOnlyList<int>? LatentSizes { get; init; }

    /// <summary>Replaces the budget's models (tests run the experiment with tiny ones); null: the budget's.</summary>
    public IReadOnlyList<BiasesModel>? Models { get; init; }

    public int EffectiveSteps => Steps ?? (Budget == Budget.Quick ? 60 : 3000);

    /// <summary>Fashion-MNIST training images 0 … N − 1, at most <see cref="HeldOutStart"/> so they never overlap the held-out images.</summary>
    public int EffectiveTrainImages => Math.Min(HeldOutStart, TrainImages ?? (Budget == Budget.Quick ? 20_000 : HeldOutStart));

    public int EffectiveEvaluationLimit => EvaluationLimit ?? (Budget == Budget.Quick ? 200 : 2_000);

    public IReadOnlyList<int> EffectiveLatentSizes => LatentSizes ?? (Budget == Budget.Quick ? [10, 20, 50] : [10, 20, 50, 100]);

    public IReadOnlyList<BiasesModel> EffectiveModels => Models ?? BiasesExperiment.ModelsOf(Budget, EffectiveLatentSizes);
}

/// <summary>One model's results: size, training time, the curve of checkpoints, the final AUROC on every OOD set.</summary>
internal sealed record BiasesRow(
    string Model,
    string Description,
    BiasesFamily Family,
    long Parameters,
    double TrainSeconds,
    IReadOnlyList<BiasesCheckpoint> Checkpoints,
    IReadOnlyList<(string Set, double Auroc)> Synthetic)
{
    public double FinalBitsPerDim => Checkpoints[^1].HeldOutBitsPerDim;

    /// <summary>AUROC Fashion-MNIST test vs MNIST after the last step (equal budget).</summary>
    public double FinalAuroc => Checkpoints[^1].Auroc;
}

/// <summary>One model's AUROC at the matched bits/dim level of one comparison.</summary>
internal sealed record MatchedRow(string Comparison, string Model, double Level, double Auroc);

/// <summary>What <see cref="BiasesExperiment.Run"/> produced.</summary>
internal sealed record BiasesReport(IReadOnlyList<BiasesRow> Rows, IReadOnlyList<MatchedRow> Matched, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// Experiment 4 (Kirichenko et al. 2020, Sec. 7; reference §3.6, §4.4, §4.5): changing the flow's inductive biases.
/// Single-scale RealNVPs with 8 couplings trained at equal budget on Fashion-MNIST: checkerboard (the baseline),
/// cycle-mask and horizontal masks with the same ResNet st-network, and the checkerboard model with the auto-encoder
/// l-bottleneck st-network for several l. At each checkpoint: held-out in-distribution bits/dim and the NLL AUROC of
/// Fashion-MNIST test vs MNIST; each model's AUROC is compared at equal budget (the last step) and at matched bits/dim
/// (<see cref="MatchedBitsPerDim"/>).
/// </summary>
internal static class BiasesExperiment
{
    public const string MasksComparison = "masks";
    public const string BottleneckComparison = "bottleneck";

    /// <summary>
    /// The budget's models. Full: the paper's ResNet st-network (width 64 × 8 blocks) for the three masks. Quick: the
    /// same masks with a width 16 × 1 block ResNet, so that the whole experiment takes minutes on 2 cores (measured at 2
    /// threads: about 0.2 s per step of 64 images for these, 1.1 s for an auto-encoder model). The
    /// bottleneck models use the reference's <c>--st_type=autoencoder --latent_dim=l</c> st-network (fixed size) on the
    /// baseline's 8 checkerboard couplings at both budgets.
    /// </summary>
    public static IReadOnlyList<BiasesModel> ModelsOf(Budget budget, IReadOnlyList<int> latentSizes)
    {
        ArgumentNullException.ThrowIfNull(latentSizes);
        var (width, blocks) = budget == Budget.Quick ? (16, 1) : (64, 8);
        var resnet = new ResNetConditionerFactory(width, blocks);
        var st = string.Create(CultureInfo.InvariantCulture, $"ResNet st-network width {width} × {blocks} block{(blocks == 1 ? string.Empty : "s")}");
        var models = new List<BiasesModel>
        {
            new("checkerboard", $"8 checkerboard couplings, {st}", BiasesFamily.Baseline,
                () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Conditioner = resnet })),
            new("cycle", $"8 cycle-mask couplings, {st}", BiasesFamily.Mask,
                () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpCycleMask with { Conditioner = resnet })),
            new("horizontal", $"8 horizontal-half couplings, {st}", BiasesFamily.Mask,
                () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal with { Conditioner = resnet })),
        };
        foreach (var l in latentSizes)
        {
            models.Add(new(string.Create(CultureInfo.InvariantCulture, $"bottleneck-l{l}"),
                string.Create(CultureInfo.InvariantCulture, $"8 checkerboard couplings, auto-encoder st-network with an l = {l} linear bottleneck"),
                BiasesFamily.Bottleneck,
                () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Conditioner = new AutoencoderConditionerFactory(l) })));
        }

        return models;
    }

    /// <summary>Null when <paramref name="text"/> is a comma-separated list of distinct positive integers, else the problem.</summary>
    public static string? CheckLatentSizes(string text, out IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parsed = new List<int>();
        sizes = parsed;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var l) || l <= 0)
            {
                return $"--latent-sizes must be a comma-separated list of positive integers (e.g. 10,20,50), got '{text}'.";
            }

            if (parsed.Contains(l))
            {
                return $"--latent-sizes lists {l.ToString(CultureInfo.InvariantCulture)} twice.";
            }

            parsed.Add(l);
        }

        return null;
    }

    public static BiasesReport Run(BiasesOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var total = Stopwatch.StartNew();
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var trainCount = Math.Min(options.EffectiveTrainImages, data.FashionTrain.Count);
        var limit = options.EffectiveEvaluationLimit;
        var heldOutCount = Math.Min(limit, data.FashionTrain.Count - BiasesOptions.HeldOutStart);
        var inTest = data.FashionTest.Take(Math.Min(limit, data.FashionTest.Count));
        var mnist = data.Mnist.Take(Math.Min(limit, data.Mnist.Count));
        var seed = (int)(options.Seed & int.MaxValue);
        var synthetic = SyntheticOodSets.Names.Select(name => (Key: name, Set: SyntheticOodSets.Create(name, inTest, seed))).ToList();
        var steps = options.EffectiveSteps;
        var interval = Math.Max(1, steps / BiasesOptions.Checkpoints);
        var models = options.EffectiveModels;
        Directory.CreateDirectory(options.OutputDirectory);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {models.Count} models × {steps} steps × {options.BatchSize} images, Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images (0–{trainCount - 1}); checkpoints every {interval} steps and after the last: "
            + $"held-out bits/dim on {heldOutCount} Fashion-MNIST training images {BiasesOptions.HeldOutStart}–{BiasesOptions.HeldOutStart + heldOutCount - 1}, "
            + $"AUROC on {inTest.Count} Fashion-MNIST test vs {mnist.Count} MNIST test images; seed {options.Seed}");
        console.WriteLine($"Biases ({budgetText}); {get_num_threads()} threads.");

        var rows = new List<BiasesRow>();
        using var train = data.FashionTrain.ToTensor(0, trainCount);
        using var heldOut = data.FashionTrain.ToTensor(BiasesOptions.HeldOutStart, heldOutCount);
        var curveFiles = new List<string>();
        foreach (var model in models)
        {
            using var flow = FlowCache.Build(options.Seed, model.Build);
            var parameters = flow.parameters().Sum(p => p.numel());
            var checkpoints = new List<BiasesCheckpoint>();
            var trainer = new FlowTrainer(flow, new TrainingOptions
            {
                Steps = steps,
                BatchSize = options.BatchSize,
                LearningRate = 1e-3,
                Seed = options.Seed,
                ProgressInterval = Math.Max(1, steps / 50),
                EvaluationInterval = interval,
            });
            var clock = Stopwatch.StartNew();
            var curve = new TrainingCurve(model.Stem, Math.Min(options.BatchSize, trainCount), string.Create(CultureInfo.InvariantCulture,
                $"{heldOutCount} Fashion-MNIST training images {BiasesOptions.HeldOutStart}–{BiasesOptions.HeldOutStart + heldOutCount - 1}"));
            var trained = TrainingDisplay.Run(console, plain, $"training {model.Stem}", progress => trainer.Train(train, heldOut, new SyncProgress<TrainingProgress>(p =>
            {
                progress.Report(p);
                curve.Add(p);
                if (p.EvaluationLoss is { } bitsPerDim)
                {
                    // The trainer puts the flow back in training mode before the next step.
                    checkpoints.Add(new BiasesCheckpoint(p.Step, bitsPerDim, MnistAuroc(flow, inTest, mnist)));
                }
            })));

            curveFiles.AddRange(curve.Write(options.OutputDirectory, model.Stem));
            using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
            var inScores = CompareScorers.Score(scorer, inTest, limit);
            var syntheticAurocs = synthetic.Select(s => (s.Key, OodMetrics.Auroc(inScores, CompareScorers.Score(scorer, s.Set, limit)))).ToList();
            var row = new BiasesRow(model.Stem, model.Description, model.Family, parameters, trained.Elapsed.TotalSeconds, checkpoints, syntheticAurocs);
            rows.Add(row);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{model.Stem}: {parameters:N0} parameters, trained {trained.Steps} steps in {trained.Elapsed.TotalSeconds:F0} s, held-out {row.FinalBitsPerDim:F3} bits/dim, "
                + $"AUROC MNIST {row.FinalAuroc:F3}; model total {clock.Elapsed.TotalSeconds:F0} s."));
        }

        var matched = Match(rows);
        WriteTable(console, plain, rows, matched);
        var files = new List<string>(curveFiles);
        var curvePlot = Path.Combine(options.OutputDirectory, "biases-auroc-vs-bpd");
        Plots.Curves(curvePlot, "AUROC (MNIST) vs held-out bits/dim during training", "held-out Fashion-MNIST bits/dim (lower = better fit)", "AUROC, Fashion-MNIST test vs MNIST",
            rows.Select(r => (r.Model, r.Checkpoints.Select(c => c.HeldOutBitsPerDim).ToArray(), r.Checkpoints.Select(c => c.Auroc).ToArray())).ToList(),
            Levels(matched).Select(l => ($"matched bits/dim ({l.Comparison})", l.Level)).ToList());
        var barPlot = Path.Combine(options.OutputDirectory, "biases-matched-auroc");
        Plots.GroupedBars(barPlot, "AUROC (MNIST) at equal budget and at matched bits/dim", "model", "AUROC, Fashion-MNIST test vs MNIST",
            rows.Select(r => r.Model).ToArray(),
            [
                ("equal budget (last step)", rows.Select(r => r.FinalAuroc).ToArray()),
                .. Levels(matched).Select(l => (string.Create(CultureInfo.InvariantCulture, $"matched {l.Comparison} ({l.Level:F3} bits/dim)"),
                    rows.Select(r => matched.FirstOrDefault(m => m.Comparison == l.Comparison && m.Model == r.Model)?.Auroc ?? double.NaN).ToArray())),
            ]);
        foreach (var stem in new[] { curvePlot, barPlot })
        {
            files.Add(stem + ".png");
            files.Add(stem + ".svg");
        }

        var markdownPath = Path.Combine(options.OutputDirectory, "biases.md");
        File.WriteAllText(markdownPath, Page(options, rows, matched, budgetText, curvePlot, barPlot, total.Elapsed));
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new BiasesReport(rows, matched, files, markdownPath, total.Elapsed);
    }

    /// <summary>The matched rows of both comparisons: masks (baseline + masks) and bottleneck (baseline + bottlenecks).</summary>
    public static IReadOnlyList<MatchedRow> Match(IReadOnlyList<BiasesRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var result = new List<MatchedRow>();
        foreach (var (name, family) in new[] { (MasksComparison, BiasesFamily.Mask), (BottleneckComparison, BiasesFamily.Bottleneck) })
        {
            var members = rows.Where(r => r.Family == BiasesFamily.Baseline || r.Family == family).ToList();
            if (members.Count < 2 || !members.Any(r => r.Family == family))
            {
                continue;
            }

            var level = MatchedBitsPerDim.Level(members.Select(r => r.Checkpoints));
            result.AddRange(members.Select(r => new MatchedRow(name, r.Model, level, MatchedBitsPerDim.AurocAt(r.Checkpoints, level))));
        }

        return result;
    }

    private static IEnumerable<(string Comparison, double Level)> Levels(IReadOnlyList<MatchedRow> matched) =>
        matched.Select(m => (m.Comparison, m.Level)).Distinct();

    // Fashion-MNIST test (in-dist.) vs MNIST, score = NLL in bits/dim at bin centres, OOD = positive.
    private static double MnistAuroc(NormalizingFlow flow, FlowOod.Data.ImageDataset inTest, FlowOod.Data.ImageDataset mnist)
    {
        using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
        return OodMetrics.Auroc(CompareScorers.Score(scorer, inTest, inTest.Count), CompareScorers.Score(scorer, mnist, mnist.Count));
    }

    private static string F(double x) => double.IsNaN(x) ? "n/a" : x.ToString("F3", CultureInfo.InvariantCulture);

    private static string MatchedCell(IReadOnlyList<MatchedRow> matched, BiasesRow row) =>
        string.Join("; ", matched.Where(m => m.Model == row.Model).Select(m => $"{F(m.Auroc)} ({m.Comparison}, {F(m.Level)})"));

    private static void WriteTable(IAnsiConsole console, bool plain, IReadOnlyList<BiasesRow> rows, IReadOnlyList<MatchedRow> matched)
    {
        var table = Terminal.NewTable(plain, "Changing the biases: NLL AUROC, Fashion-MNIST test (in-dist.) vs MNIST, OOD = positive");
        foreach (var header in new[] { "model", "parameters", "train s", "held-out bits/dim", "AUROC equal budget", "AUROC matched (comparison, bits/dim)" })
        {
            table.AddColumn(new TableColumn(Markup.Escape(header)));
        }

        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Model), r.Parameters.ToString("N0", CultureInfo.InvariantCulture), r.TrainSeconds.ToString("F0", CultureInfo.InvariantCulture),
                F(r.FinalBitsPerDim), F(r.FinalAuroc), Markup.Escape(MatchedCell(matched, r)));
        }

        console.Write(table);
        console.WriteLine();
    }

    private static string Page(BiasesOptions options, IReadOnlyList<BiasesRow> rows, IReadOnlyList<MatchedRow> matched, string budgetText, string curvePlot, string barPlot, TimeSpan elapsed)
    {
        var page = new StringBuilder()
            .AppendLine("## Experiment 4: changing the biases (Sec. 7)").AppendLine()
            .AppendLine("Single-scale RealNVPs with 8 affine couplings, trained on Fashion-MNIST with the same seed, steps, batch size and Adam lr 0.001 (equal budget). "
                + "The checkerboard model is the same-depth baseline; the cycle-mask and horizontal models swap only the masks; the bottleneck models keep the checkerboard masks "
                + "and swap the ResNet st-network for the reference's auto-encoder st-network (`--st_type=autoencoder --latent_dim=l`: 4×4 convolutions 32 → 64 → 64 → 128, "
                + "a linear layer to l numbers and back, mirrored transposed convolutions). The score is the negative log-likelihood in bits/dim (higher = more OOD), "
                + "AUROC with OOD = positive; below 0.5 means MNIST is found *more* likely than Fashion-MNIST.").AppendLine()
            .AppendLine("**Matched bits/dim.** At every checkpoint the held-out in-distribution bits/dim (Fashion-MNIST training images from index 50,000 on, never trained on) "
                + "and the AUROC are recorded. Within each comparison (masks: checkerboard, cycle-mask, horizontal; bottleneck: checkerboard and every l) the matched level is "
                + "the lowest held-out bits/dim that every model of the comparison reached (the largest of the models' best values); each model's AUROC there is interpolated "
                + "linearly between the two checkpoints where its held-out bits/dim first reaches the level. Equal budget = the last checkpoint. "
                + "The OOD numbers are only recorded: nothing (model, step, level) is chosen by them.").AppendLine()
            .AppendLine("| model | parameters | train s | held-out bits/dim | AUROC equal budget | AUROC matched (comparison, bits/dim) |")
            .AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var r in rows)
        {
            page.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Parameters:N0} | {r.TrainSeconds:F0} | {F(r.FinalBitsPerDim)} | {F(r.FinalAuroc)} | {MatchedCell(matched, r)} |");
        }

        page.AppendLine();
        foreach (var (comparison, level) in Levels(matched))
        {
            var members = matched.Where(m => m.Comparison == comparison).ToList();
            var baseline = members.FirstOrDefault(m => rows.First(r => r.Model == m.Model).Family == BiasesFamily.Baseline);
            var others = members.Where(m => m != baseline).Select(m => $"{m.Model} {F(m.Auroc)}{(baseline is null || double.IsNaN(m.Auroc) ? string.Empty : m.Auroc > baseline.Auroc ? " (above)" : " (not above)")}");
            page.AppendLine(CultureInfo.InvariantCulture,
                $"- Matched {comparison}: level {F(level)} bits/dim; baseline {baseline?.Model ?? "none"} {F(baseline?.Auroc ?? double.NaN)}; {string.Join(", ", others)}.");
        }

        var synthetic = rows.Count == 0 ? [] : rows[0].Synthetic.Select(s => s.Set).ToList();
        page.AppendLine()
            .AppendLine("Final models (equal budget) on the synthetic OOD sets made from the Fashion-MNIST test images (AUROC, NLL score):").AppendLine()
            .Append("| model | ").AppendJoin(" | ", synthetic).AppendLine(" |")
            .Append("|---|").AppendJoin("|", synthetic.Select(_ => "---:")).AppendLine("|");
        foreach (var r in rows)
        {
            page.Append(CultureInfo.InvariantCulture, $"| {r.Model} | ").AppendJoin(" | ", r.Synthetic.Select(s => F(s.Auroc))).AppendLine(" |");
        }

        page.AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![AUROC vs bits/dim]({Path.GetFileName(curvePlot)}.png)").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![AUROC at matched bits/dim]({Path.GetFileName(barPlot)}.png)").AppendLine()
            .AppendLine("Models:").AppendLine();
        foreach (var r in rows)
        {
            var curve = string.Join(", ", r.Checkpoints.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Step}: {F(c.HeldOutBitsPerDim)}, {F(c.Auroc)}")));
            page.AppendLine(CultureInfo.InvariantCulture, $"- {r.Model}: {r.Description}; checkpoints (step: bits/dim, AUROC) {curve}");
        }

        page.AppendLine().AppendLine("Training curves (training and held-out bits/dim against images seen):").AppendLine()
            .AppendLine(string.Join(' ', rows.Select(r => $"![{r.Model} training curve]({r.Model}-training.png)")));

        page.AppendLine()
            .Append(Experiments.PageFooter.Markdown(options, elapsed, budgetText, "Times are wall-clock on a machine that may be shared with other jobs"));
        return page.ToString();
    }
}
