using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>The statistics, plots, console table and Markdown fragment <c>biases.md</c> of experiment 4.</summary>
internal static class BiasesPage
{
    /// <summary>
    /// MNIST AUROCs of the official flows_ood code (Kirichenko et al.'s), measured on a 2-core machine with the
    /// standard budget's sizes (single scale, 8 couplings, ResNet width 32 × 2 blocks; auto-encoder l = 20), about 900 s
    /// per model, about 16–22k images seen (issue 21). Reported beside FlowOod's; not measured by this run.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, double> Official = new Dictionary<string, double>
    {
        ["checkerboard"] = 0.096,
        ["cycle"] = 0.206,
        ["bottleneck-l20"] = 0.477,
    };

    /// <summary>Computes the statistics, draws the plots, writes <c>biases.md</c>; <paramref name="files"/> holds the training-curve files so far.</summary>
    public static BiasesReport Write(BiasesOptions options, IReadOnlyList<BiasesModel> models, IReadOnlyList<BiasesRun> runs, string budgetText, List<string> files, Stopwatch total)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(runs);
        var bootstrap = new ImageBootstrap(runs[0].InScores.Length, runs[0].MnistScores.Length);
        var summaries = BiasesStatistics.Summarise(models, runs, bootstrap);
        var groups = BiasesStatistics.Groups(models);
        var matched = groups.SelectMany(g => BiasesStatistics.Match(g, summaries)).ToList();
        var comparisons = BiasesStatistics.Compare(groups, summaries, matched, bootstrap);
        var ordered = models.Where(m => summaries.ContainsKey(m.Stem)).Select(m => summaries[m.Stem]).ToList();

        var curvePlot = Path.Combine(options.OutputDirectory, "biases-auroc-vs-bpd");
        Plots.Curves(curvePlot, "MNIST AUROC vs held-out bits/dim during training (mean over seeds)", "held-out Fashion-MNIST bits/dim (lower = better fit)", "AUROC, Fashion-MNIST test vs MNIST",
            ordered.Select(s => (s.Model.Stem, MeanCurve(s, c => c.HeldOutBitsPerDim), MeanCurve(s, c => c.Auroc))).ToList(),
            groups.Select(g => ($"matched level ({g.Name})", matched.Where(m => m.Comparison == g.Name).Select(m => m.Level).DefaultIfEmpty(double.NaN).Average())).ToList());
        var barPlot = Path.Combine(options.OutputDirectory, "biases-matched-auroc");
        Plots.GroupedBars(barPlot, "MNIST AUROC at equal budget and at matched bits/dim (mean over seeds)", "model", "AUROC, Fashion-MNIST test vs MNIST",
            ordered.Select(s => s.Model.Stem).ToArray(),
            [
                ("equal budget (last step)", ordered.Select(s => s.Auroc.Mean).ToArray()),
                .. groups.Select(g => ($"matched, {g.Name}", ordered.Select(s => MatchedMean(matched, g.Name, s.Model.Stem)).ToArray())),
            ]);
        foreach (var stem in new[] { curvePlot, barPlot })
        {
            files.Add(stem + ".png");
            files.Add(stem + ".svg");
        }

        var markdownPath = Path.Combine(options.OutputDirectory, "biases.md");
        var report = new BiasesReport(runs, ordered, matched, comparisons, files, markdownPath, total.Elapsed);
        File.WriteAllText(markdownPath, Markdown(options, report, budgetText, curvePlot, barPlot, total.Elapsed));
        files.Add(markdownPath);
        return report;
    }

    public static void WriteTable(IAnsiConsole console, bool plain, BiasesReport report)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(report);
        var table = Terminal.NewTable(plain, "Changing the biases: NLL AUROC, Fashion-MNIST test (in-dist.) vs MNIST, OOD = positive, mean ± sd over seeds");
        foreach (var header in new[] { "model", "parameters", "seeds", "held-out bits/dim", "AUROC equal budget [95% CI]" })
        {
            table.AddColumn(new TableColumn(Markup.Escape(header)));
        }

        foreach (var s in report.Summaries)
        {
            table.AddRow(Markup.Escape(s.Model.Stem), s.Runs[0].Parameters.ToString("N0", CultureInfo.InvariantCulture), s.Runs.Count.ToString(CultureInfo.InvariantCulture),
                PlusMinus(s.BitsPerDim), Markup.Escape(AurocCell(s)));
        }

        console.Write(table);
        var comparisons = Terminal.NewTable(plain, "Against the reference (Δ = model − reference; verdict needs |Δ| > 2 × noise)");
        foreach (var header in new[] { "comparison", "model", "reference", "at", "Δ AUROC", "noise", "verdict" })
        {
            comparisons.AddColumn(new TableColumn(Markup.Escape(header)));
        }

        foreach (var c in report.Comparisons)
        {
            comparisons.AddRow(Markup.Escape(c.Comparison), Markup.Escape(c.Model), Markup.Escape(c.Reference), Markup.Escape(c.Kind), Signed(c.Delta), F(c.Noise), Markup.Escape(VerdictText(c.Verdict)));
        }

        console.Write(comparisons);
        console.WriteLine();
    }

    public static string VerdictText(BiasesVerdict verdict) => verdict switch
    {
        BiasesVerdict.Above => "above",
        BiasesVerdict.Below => "below",
        _ => "within noise",
    };

    public static string F(double x) => double.IsNaN(x) ? "n/a" : x.ToString("F3", CultureInfo.InvariantCulture);

    public static string Signed(double x) => double.IsNaN(x) ? "n/a" : x.ToString("+0.000;−0.000;0.000", CultureInfo.InvariantCulture);

    private static string PlusMinus((double Mean, double Sd) value) => double.IsNaN(value.Sd) ? F(value.Mean) : $"{F(value.Mean)} ± {F(value.Sd)}";

    private static string AurocCell(BiasesSummary s) => $"{PlusMinus(s.Auroc)} [{F(s.AurocInterval.Lower)}, {F(s.AurocInterval.Upper)}]";

    private static double MatchedMean(IReadOnlyList<MatchedRow> matched, string comparison, string model) =>
        matched.Where(m => m.Comparison == comparison && m.Model == model).Select(m => m.Auroc).DefaultIfEmpty(double.NaN).Average();

    // The mean over seeds of one checkpoint value, checkpoint by checkpoint (every seed has the same steps).
    private static double[] MeanCurve(BiasesSummary s, Func<BiasesCheckpoint, double> value) =>
        Enumerable.Range(0, s.Runs.Min(r => r.Checkpoints.Count)).Select(i => s.Runs.Average(r => value(r.Checkpoints[i]))).ToArray();

    private static string Markdown(BiasesOptions options, BiasesReport report, string budgetText, string curvePlot, string barPlot, TimeSpan elapsed)
    {
        var page = new StringBuilder()
            .AppendLine("## Experiment 4: changing the biases (Sec. 7)").AppendLine()
            .AppendLine("Single-scale RealNVPs with 8 affine couplings, trained on Fashion-MNIST with the same steps, batch size and Adam lr 0.001 (equal budget), each at every seed. "
                + "Masks: the checkerboard model is the same-depth baseline; the cycle-mask and horizontal models swap only the masks (same ResNet st-network, same parameter count). "
                + "Bottleneck: one st-network family, the reference's auto-encoder (`--st_type=autoencoder`: 4×4 convolutions 32 → 64 → 64 → 128 and mirrored transposed convolutions), "
                + "without a bottleneck and with the l-bottleneck (`--latent_dim=l`: a linear layer to l numbers and back between encoder and decoder) — the bottleneck adds parameters, "
                + "so a gain cannot come from capacity. The official code compares the auto-encoder with the ResNet checkerboard model (bottleneck vs ResNet below); that comparison mixes "
                + "the bottleneck with a different st-network. The score is the negative log-likelihood in bits/dim (higher = more OOD), AUROC with OOD = positive; below 0.5 means MNIST "
                + "is found *more* likely than Fashion-MNIST.").AppendLine()
            .AppendLine("**Matched bits/dim.** At every checkpoint the held-out in-distribution bits/dim (Fashion-MNIST training images from index 50,000 on, never trained on) "
                + "and the AUROC are recorded. Per seed and comparison, the matched level is the lowest held-out bits/dim that every model of the comparison reached (the worst model's best value, "
                + "so near the end of the worst model's training: the column *reached at* gives the fraction of training after which each model first got there); each model's AUROC there is "
                + "interpolated linearly between the two checkpoints where its held-out bits/dim first reaches the level. Equal budget = the last checkpoint. "
                + "The OOD numbers are only recorded: nothing (model, step, level) is chosen by them.").AppendLine()
            .AppendLine("**Noise and verdicts.** Δ = mean over seeds of the model's AUROC − the reference's. Noise = √(sd_m²/n + sd_r²/n + se_img²), with sd the spread over seeds "
                + "and se_img the standard deviation of Δ over 1,000 paired bootstrap resamples of the evaluation images (every model scored the same images). "
                + "A model is *above* (or *below*) its reference only when |Δ| > 2 × noise; otherwise the difference is *within noise*. Intervals [a, b] are 95% bootstrap intervals of "
                + "the seed-mean AUROC over the evaluation images.").AppendLine()
            .AppendLine("| model | parameters | seeds | images seen | held-out bits/dim | drop over last quarter | AUROC MNIST, equal budget [95% CI] | train s (mean) |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        var images = options.EffectiveSteps * options.BatchSize;
        foreach (var s in report.Summaries)
        {
            page.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Model.Stem} | {s.Runs[0].Parameters:N0} | {s.Runs.Count} | {s.Runs[0].Checkpoints[^1].Step * options.BatchSize:N0} | {PlusMinus(s.BitsPerDim)} | {F(s.LastQuarterDrop)} | {AurocCell(s)} | {s.Runs.Average(r => r.TrainSeconds):F0} |");
        }

        page.AppendLine().AppendLine("| comparison | model | reference | at | model AUROC | reference AUROC | Δ | noise | verdict | level (bits/dim) | reached at (model; reference) |")
            .AppendLine("|---|---|---|---|---:|---:|---:|---:|---|---:|---|");
        foreach (var c in report.Comparisons)
        {
            var reached = c.Kind == BiasesComparison.Matched
                ? $"{Reached(report.Matched, c.Comparison, c.Model)}; {Reached(report.Matched, c.Comparison, c.Reference)}"
                : "—";
            page.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Comparison} | {c.Model} | {c.Reference} | {c.Kind} | {F(c.ModelMean)} | {F(c.ReferenceMean)} | {Signed(c.Delta)} | {F(c.Noise)} | {VerdictText(c.Verdict)} | {(double.IsNaN(c.Level) ? "—" : F(c.Level))} | {reached} |");
        }

        // Only the standard budget's own models have the official run's sizes.
        var anchored = options.Budget == Budget.Standard && options.Models is null ? report.Summaries.Where(s => Official.ContainsKey(s.Model.Stem)).ToList() : [];
        if (anchored.Count > 0)
        {
            page.AppendLine().AppendLine("**Beside the official code.** The official flows_ood code was run on a 2-core machine with the standard budget's sizes (single scale, 8 couplings, "
                    + "ResNet width 32 × 2 blocks; auto-encoder l = 20), about 900 s per model and about 16–22k images seen, one seed (measured for issue 21, not by this run). "
                    + string.Create(CultureInfo.InvariantCulture, $"This run: {images:N0} images seen per model."))
                .AppendLine().AppendLine("| model | official code, MNIST AUROC | FlowOod, MNIST AUROC (mean ± sd [95% CI]) | official's gain over its checkerboard | FlowOod's gain over its checkerboard |")
                .AppendLine("|---|---:|---:|---:|---:|");
            var checkerboard = report.Summaries.FirstOrDefault(s => s.Model.Stem == "checkerboard");
            foreach (var s in anchored)
            {
                var official = Official[s.Model.Stem];
                page.AppendLine(CultureInfo.InvariantCulture,
                    $"| {s.Model.Stem} | {F(official)} | {AurocCell(s)} | {Signed(official - Official["checkerboard"])} | {(checkerboard is null ? "n/a" : Signed(s.Auroc.Mean - checkerboard.Auroc.Mean))} |");
            }
        }

        var synthetic = report.Summaries.Count == 0 ? [] : report.Summaries[0].Synthetic.Select(s => s.Set).ToList();
        page.AppendLine()
            .AppendLine("Final models (equal budget) on the synthetic OOD sets made from the Fashion-MNIST test images (AUROC, NLL score, mean over seeds):").AppendLine()
            .Append("| model | ").AppendJoin(" | ", synthetic).AppendLine(" |")
            .Append("|---|").AppendJoin("|", synthetic.Select(_ => "---:")).AppendLine("|");
        foreach (var s in report.Summaries)
        {
            page.Append(CultureInfo.InvariantCulture, $"| {s.Model.Stem} | ").AppendJoin(" | ", s.Synthetic.Select(a => F(a.Auroc))).AppendLine(" |");
        }

        var layouts = report.Summaries.SelectMany(s => s.Runs[0].Layout ?? []).ToList();
        if (layouts.Count > 0)
        {
            page.AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"**Latent layout (Sec. 5) of these models** (first seed, {layouts[0].Draws} draws). {LatentLayout.Rule(layouts[0].Draws)}").AppendLine()
                .Append(LatentLayout.MarkdownTable(layouts));
        }

        page.AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![AUROC vs bits/dim]({Path.GetFileName(curvePlot)}.png)").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![AUROC at matched bits/dim]({Path.GetFileName(barPlot)}.png)").AppendLine()
            .AppendLine("Models and checkpoints (step: held-out bits/dim, AUROC):").AppendLine();
        foreach (var s in report.Summaries)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"- {s.Model.Stem}: {s.Model.Description}");
            foreach (var r in s.Runs)
            {
                var curve = string.Join(", ", r.Checkpoints.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Step}: {F(c.HeldOutBitsPerDim)}, {F(c.Auroc)}")));
                page.AppendLine(CultureInfo.InvariantCulture, $"  - seed {r.Seed}: {curve}");
            }
        }

        page.AppendLine().AppendLine("Training curves (training and held-out bits/dim against images seen), one per model and seed:").AppendLine()
            .AppendLine(string.Join(' ', report.Runs.Select(r => string.Create(CultureInfo.InvariantCulture, $"![{r.Model} seed {r.Seed} training curve]({r.Model}-seed{r.Seed}-training.png)"))));

        page.AppendLine()
            .Append(Experiments.PageFooter.Markdown(options, elapsed, budgetText,
                "Times are wall-clock on a machine that may be shared with other jobs; a resumed run reports the training time of each saved model"));
        return page.ToString();
    }

    private static string Reached(IReadOnlyList<MatchedRow> matched, string comparison, string model)
    {
        var values = matched.Where(m => m.Comparison == comparison && m.Model == model).Select(m => m.Reached).ToList();
        return values.Count == 0 ? "n/a" : string.Join("/", values.Select(v => double.IsNaN(v) ? "n/a" : v.ToString("P0", CultureInfo.InvariantCulture)));
    }
}
