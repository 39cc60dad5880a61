using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Analysis;
using FlowOod.Conditioners;
using FlowOod.Models;
using FlowOod.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood couplings</c>. Null overrides take the budget's value.</summary>
internal sealed record CouplingsOptions : ExperimentOptions
{
    /// <summary>Replaces the budget's model (tests); null: the budget's.</summary>
    public BaselineModel? Model { get; init; }

    public BaselineModel EffectiveModel => Model ?? CouplingsExperiment.ModelOf(Budget);

    public int EffectiveSteps => Steps ?? EffectiveModel.Steps;

    public int EffectiveTrainImages => TrainImages ?? (Budget == Budget.Quick ? 20_000 : 60_000);

    public int EffectiveEvaluationLimit => EvaluationLimit ?? (Budget == Budget.Quick ? 256 : 2_000);
}

/// <summary>
/// What <see cref="CouplingsExperiment.Run"/> produced: one co-adaptation row per coupling layer, and the paper's Sec. 6
/// expectations tested (<see cref="CoAdaptationCriterion"/>).
/// </summary>
internal sealed record CouplingsReport(IReadOnlyList<CoAdaptationRow> Rows, IReadOnlyList<CoAdaptationCheck> Checks, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// R² of one coupling layer (how well −t predicts the half it changes) on the in-distribution and the OOD set, with 95%
/// bootstrap intervals over images.
/// </summary>
internal sealed record CoAdaptationRow(string Layer, double InDistribution, double Ood, double InLow = double.NaN, double InHigh = double.NaN, double OodLow = double.NaN, double OodHigh = double.NaN);

/// <summary>
/// Experiment 3 (Kirichenko et al. 2020, Sec. 6; reference §3.5): the 3-layer horizontal-mask single-scale RealNVP
/// trained on Fashion-MNIST. Per coupling, its input, s, t and output for one Fashion-MNIST test image and one MNIST digit
/// (<see cref="CouplingView.Trace"/>); and the co-adaptation number R² per layer (the definition of
/// <see cref="CoAdaptation.Measure"/>) on Fashion-MNIST test vs MNIST test images with bootstrap intervals, tested
/// against the paper's expectation (<see cref="CoAdaptationCriterion"/>).
/// </summary>
internal static class CouplingsExperiment
{
    private const int Columns = 4;

    /// <summary>Bootstrap resamples of the co-adaptation intervals.</summary>
    public const int Resamples = 1000;

    /// <summary>
    /// The budget's model: the paper's 3-layer horizontal-mask preset (ResNet width 64, 8 blocks) at the full budget; at
    /// the quick and standard budgets the same masks with a smaller st-network (width 32, 2 blocks, the official code's
    /// size in issue 21's anchor), which trains several times faster: 300 steps quick, 375 × 64 = 24,000 images standard.
    /// </summary>
    public static BaselineModel ModelOf(Budget budget) => budget == Budget.Full
        ? new("horizontal3", "single-scale RealNVP, 3 couplings, horizontal masks, ResNet st-network width 64 × 8 blocks (paper)", 3000,
            () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers))
        : new("horizontal3", "single-scale RealNVP, 3 couplings, horizontal masks, ResNet st-network width 32 × 2 blocks", budget == Budget.Quick ? 300 : 375,
            () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new ResNetConditionerFactory(width: 32, blocks: 2) }));

    public static CouplingsReport Run(CouplingsOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var total = Stopwatch.StartNew();
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var trainCount = Math.Min(options.EffectiveTrainImages, data.FashionTrain.Count);
        var limit = Math.Max(2, Math.Min(options.EffectiveEvaluationLimit, Math.Min(data.FashionTest.Count, data.Mnist.Count)));
        Directory.CreateDirectory(options.OutputDirectory);
        var model = options.EffectiveModel;
        var steps = options.EffectiveSteps;
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {model.Stem} {steps} steps × {options.BatchSize} images, Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images, co-adaptation on {limit} images per set (bin-centre dequantization, BatchNorm running statistics), seed {options.Seed}");
        console.WriteLine($"Couplings ({budgetText}); {get_num_threads()} threads.");

        var files = new List<string>();
        using var cache = new FlowCache();
        var trained = cache.GetOrTrain(model, steps, options.BatchSize, data.FashionTrain, trainCount, options.Seed, console, plain, options.EffectivePrecision, evaluateHeldOut: true);
        var flow = trained.Flow;
        files.AddRange(trained.Curve.Write(options.OutputDirectory, model.Stem));
        flow.eval();
        var sets = new[] { (Stem: "fashion", Name: "Fashion-MNIST test image 0", Set: data.FashionTest), (Stem: "mnist", Name: "MNIST test digit 0", Set: data.Mnist) };
        var couplings = 0;
        foreach (var (stem, name, set) in sets)
        {
            using var scope = NewDisposeScope();
            var image = set.ToTensor(0, 1);
            using var trace = CouplingView.Trace(flow, image, ScoringNoise.BinCentres);
            couplings = trace.Count;
            var panels = new List<float>();
            foreach (var layer in trace)
            {
                using var zeros = zeros_like(layer.Input);
                foreach (var value in new[] { layer.Input, layer.LogScale ?? zeros, layer.Shift ?? zeros, layer.Output })
                {
                    panels.AddRange(Symmetric(value.to(ScalarType.Float32).cpu().data<float>().ToArray()));
                }
            }

            var grid = Path.Combine(options.OutputDirectory, $"{model.Stem}-couplings-{stem}");
            Plots.ImageGrid(grid, $"{model.Stem} couplings: {name}",
                panels.ToArray(), trace.Count * Columns, 28, 28, Columns,
                columnLabels: ["input", "s (log-scale)", "t (shift)", "output"],
                rowLabels: trace.Select(l => l.Name.Replace(" (", "\n(", StringComparison.Ordinal)).ToArray(),
                note: "each panel scaled to its largest |value|: gray 0");
            files.Add(grid + ".png");
            files.Add(grid + ".svg");
        }

        var clock = Stopwatch.StartNew();
        IReadOnlyList<LayerImages> inDist, ood;
        using (var fashion = data.FashionTest.ToTensor(0, limit))
        {
            inDist = CoAdaptationCriterion.Collect(flow, fashion, ScoringNoise.BinCentres, batchSize: 64);
        }

        using (var mnist = data.Mnist.ToTensor(0, limit))
        {
            ood = CoAdaptationCriterion.Collect(flow, mnist, ScoringNoise.BinCentres, batchSize: 64);
        }

        var (rows, checks) = CoAdaptationCriterion.Evaluate(inDist, ood, Resamples, options.Seed);
        var measureText = string.Create(CultureInfo.InvariantCulture, $"co-adaptation measured on 2 × {limit} images in {clock.Elapsed.TotalSeconds:F0} s");
        console.WriteLine(measureText + ".");
        var table = Terminal.NewTable(plain, "Co-adaptation: R² of −t as a prediction of the transformed half (1 = exact, 0 = no better than the mean image)");
        foreach (var header in new[] { "layer", "R² Fashion-MNIST [[95% CI]]", "R² MNIST [[95% CI]]" })
        {
            table.AddColumn(new TableColumn(header));
        }

        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Layer), Markup.Escape(WithInterval(r.InDistribution, r.InLow, r.InHigh)), Markup.Escape(WithInterval(r.Ood, r.OodLow, r.OodHigh)));
        }

        console.Write(table);
        foreach (var c in checks)
        {
            console.WriteLine($"{(c.Held ? "held" : "NOT held")}: {c.Claim}: {c.Target}; measured {c.Measured}.");
        }

        var bars = Path.Combine(options.OutputDirectory, $"{model.Stem}-coadaptation");
        Plots.GroupedBars(bars, $"{model.Stem}: co-adaptation, R² of −t predicting the transformed half", "coupling layer", "R² (1 = exact, 0 = the mean image)",
            rows.Select(r => r.Layer).ToArray(), [("Fashion-MNIST test (in-dist.)", rows.Select(r => r.InDistribution).ToArray()), ("MNIST test (OOD)", rows.Select(r => r.Ood).ToArray())]);
        files.Add(bars + ".png");
        files.Add(bars + ".svg");

        var markdownPath = Path.Combine(options.OutputDirectory, "couplings.md");
        var page = new StringBuilder()
            .AppendLine("## Experiment 3: coupling layers and co-adaptation (Kirichenko et al. 2020, Sec. 6)").AppendLine()
            .AppendLine($"Model: {model.Description}, trained on Fashion-MNIST. Layer 1 conditions on the top half and changes the bottom half, "
                + "layer 2 the reverse, layer 3 as layer 1. R² = 1 − Σ(x + t)² / Σ(x − x̄)² over each layer's transformed entries: how well −t predicts the half the layer changes "
                + "(1 exact, 0 no better than the set's mean image). The paper (Sec. 6): \"It is not possible for the st-network that was only trained on FashionMNIST to predict "
                + "the top half of an MNIST digit based on the other half. The resolution is that the first layer encodes information about the top half into the bottom half of the image; "
                + "the second layer then decodes this information to accurately predict the top half. Similarly, the third layer leverages information about the bottom half of the image "
                + "encoded by the second layer.\" and the two mechanisms work \"equally accurately on in- and out-of-distribution datasets\". Layer 1, the only one that must predict "
                + "a half from the raw other half, should fail on MNIST; layers 2 and 3 should predict MNIST well, better than layer 1 and as well as Fashion-MNIST.").AppendLine()
            .AppendLine(CoAdaptationCriterion.Rule(Resamples)).AppendLine()
            .AppendLine("| layer | R² Fashion-MNIST [95% CI] | R² MNIST [95% CI] |")
            .AppendLine("|---|---:|---:|");
        foreach (var r in rows)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"| {r.Layer} | {WithInterval(r.InDistribution, r.InLow, r.InHigh)} | {WithInterval(r.Ood, r.OodLow, r.OodHigh)} |");
        }

        page.AppendLine()
            .AppendLine("| expectation | rule | measured [95% CI] | held |")
            .AppendLine("|---|---|---|---|");
        foreach (var c in checks)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"| {c.Claim.Replace("Co-adaptation (Sec. 6): ", string.Empty, StringComparison.Ordinal)} | {c.Target} | {c.Measured} | {(c.Held ? "yes" : "**no**")} |");
        }

        page.AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"{char.ToUpperInvariant(measureText[0])}{measureText[1..]}.").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![co-adaptation]({Path.GetFileName(bars)}.png) ![{model.Stem} training curve]({model.Stem}-training.png)").AppendLine()
            .AppendLine("Per coupling (" + couplings.ToString(CultureInfo.InvariantCulture) + " rows): input, s, t and output, each panel scaled to its own largest |value| (gray = 0). "
                + "s and t are 0 on the conditioning half.").AppendLine();
        foreach (var (stem, name, _) in sets)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"![{name}]({model.Stem}-couplings-{stem}.png)");
        }

        page.AppendLine()
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new CouplingsReport(rows, checks, files, markdownPath, total.Elapsed);
    }

    private static string F(double x) => x.ToString("F3", CultureInfo.InvariantCulture);

    private static string WithInterval(double value, double low, double high) => string.Create(CultureInfo.InvariantCulture, $"{value:F3} [{low:F3}, {high:F3}]");

    // Maps values to [0, 1] with 0 at 0.5 and ±max|v| at 0 and 1 (all-zero panels stay gray).
    private static IEnumerable<float> Symmetric(float[] values)
    {
        var max = values.Length == 0 ? 0 : values.Max(v => Math.Abs(v));
        return max > 0 && float.IsFinite(max) ? values.Select(v => 0.5f + (0.5f * v / max)) : values.Select(_ => 0.5f);
    }
}
