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
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>The compute budget of an experiment.</summary>
internal enum Budget
{
    /// <summary>Compact models, 150 steps, 2,000 images per set: minutes on 2 cores.</summary>
    Quick,

    /// <summary>
    /// The quick models trained to at least 20,000 images seen (steps × batch) in <c>ComputePrecision.Auto</c> (bf16 where
    /// the CPU has it), at least 2,000 images per evaluation set and at least 3 seeds where an experiment takes seeds:
    /// about 2 hours for <c>reproduce</c> on 2 cores.
    /// </summary>
    Standard,

    /// <summary>Larger models, thousands of steps, 10,000 images per set.</summary>
    Full,
}

/// <summary>Options of <c>flowood baseline</c>. Null overrides take the budget's value.</summary>
internal sealed record BaselineOptions : ExperimentOptions
{
    public IReadOnlyList<string> OodSets { get; init; } = Cli.OodSets.Defaults;

    /// <summary>Replaces the budget's two models (tests run the experiment with tiny ones); null: the budget's.</summary>
    public IReadOnlyList<BaselineModel>? Models { get; init; }

    /// <summary>Where trained flows are found and kept (<c>reproduce</c> shares one between experiments); null: a cache of the run's own.</summary>
    public FlowCache? Cache { get; init; }

    /// <summary>Training steps of <paramref name="model"/>: <see cref="Steps"/> when given, else the model's budget steps.</summary>
    public int EffectiveSteps(BaselineModel model) => Steps ?? model.Steps;

    /// <summary>Fashion-MNIST training images used (standard: images 0–49,999, so the training curve's held-out images start at 50,000).</summary>
    public int EffectiveTrainImages => TrainImages ?? Budget switch { Budget.Quick => 20_000, Budget.Standard => 50_000, _ => 60_000 };

    /// <summary>Images scored per set.</summary>
    public int EffectiveEvaluationLimit => EvaluationLimit ?? Budget switch { Budget.Quick => 1_000, Budget.Standard => 2_000, _ => 10_000 };
}

/// <summary>One model of the baseline: its file stem, description, training steps at the budget, and builder.</summary>
internal sealed record BaselineModel(string Stem, string Description, int Steps, Func<NormalizingFlow> Build);

/// <summary>What <see cref="BaselineExperiment.Run"/> produced.</summary>
internal sealed record BaselineReport(IReadOnlyList<OodResult> Results, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// Experiment 1 (Kirichenko et al. 2020, Fig. 1): RealNVP and Glow trained on Fashion-MNIST; bits/dim histograms of
/// Fashion-MNIST test vs each OOD set, ROC curves with AUROC in the legend, sample grids at temperatures 1.0 and 0.7;
/// a Markdown fragment <c>baseline.md</c> with the table, the plots, the command, seed, machine and wall time.
/// </summary>
internal static class BaselineExperiment
{
    /// <summary>The sampling temperatures of the sample grids.</summary>
    public static readonly double[] Temperatures = [1.0, 0.7];

    private const int GridSamples = 64;
    private const int GridColumns = 8;

    /// <summary>
    /// The two models of the budget. The small Glow trains about 20 times faster than the compact RealNVP on a CPU, so
    /// the quick budget gives it 4 times the steps (measured: 60 steps took 148 s for RealNVP, 8 s for Glow, 1 thread).
    /// </summary>
    /// <remarks>
    /// Standard: the quick models, RealNVP 320 steps × 64 = 20,480 images (quick, 2 cores: 156 s for 150 steps fp32, i.e.
    /// 62 images/s; bf16 about 1.8× that, docs/performance.md: about 190 s), Glow 1,500 steps = 96,000 images (quick: 25 s
    /// for 600 steps; bf16 does not speed the small Glow up: about 65 s). With 2,000 images per set (16,000 scored per
    /// model; quick: RealNVP 8,000 in 42 s) the baseline takes about 6 min.
    /// </remarks>
    public static IReadOnlyList<BaselineModel> Models(Budget budget) => budget switch
    {
        Budget.Quick => QuickModels(150, 600),
        Budget.Standard => QuickModels(320, 1_500),
        _ =>
        [
            new("realnvp", "RealNVP (2 scales, width 64, 6 residual blocks)", 3000, () => RealNvp.Create([1, 28, 28], new RealNvpOptions())),
            new("glow", "Glow, compact preset (2 scales × 8 steps, width 64)", 3000, () => Glow.Create([1, 28, 28], GlowOptions.Compact)),
        ],
    };

    private static BaselineModel[] QuickModels(int realNvpSteps, int glowSteps) =>
    [
        new("realnvp", "RealNVP, compact (2 scales, width 32, 2 residual blocks, checkerboard + channel masks)", realNvpSteps, () => RealNvp.Create([1, 28, 28], RealNvpOptions.Compact)),
        new("glow", "Glow (2 scales × 4 steps, width 32)", glowSteps, () => Glow.Create([1, 28, 28], new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 })),
    ];

    public static BaselineReport Run(BaselineOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var (data, total) = options.Start();
        var limit = options.EffectiveEvaluationLimit;
        var inTest = ExperimentOptions.TestImages(data, limit);
        var oodSets = options.LoadOodSets(data, options.OodSets, limit);
        var trainCount = Math.Min(options.EffectiveTrainImages, data.FashionTrain.Count);
        var models = options.Models ?? Models(options.Budget);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {string.Join(", ", models.Select(m => $"{m.Stem} {options.EffectiveSteps(m)} steps"))} × {options.BatchSize} images, Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images, {inTest.Count} images per evaluation set, seed {options.Seed}");
        console.WriteLine($"Baseline ({budgetText}); {get_num_threads()} threads.");

        var results = new List<OodResult>();
        var files = new List<string>();
        var sections = new StringBuilder();
        using var ownCache = options.Cache is null ? new FlowCache(options.EffectivePrecision) : null;
        var cache = options.Cache ?? ownCache!;
        foreach (var model in models)
        {
            var (stem, description) = (model.Stem, model.Description);
            var clock = Stopwatch.StartNew();
            var trained = cache.GetOrTrain(model, options.EffectiveSteps(model), options.BatchSize, data.FashionTrain, trainCount, options.Seed, console, plain, options.EffectivePrecision, evaluateHeldOut: true);
            var flow = trained.Flow;
            var trainedText = trained.Summary;

            using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
            var inScores = CompareScorers.Score(scorer, inTest, limit);
            var modelResults = oodSets
                .Select(o => new OodResult($"{stem} NLL (bits/dim)", inTest.Name, o.Name, inScores, CompareScorers.Score(scorer, o, limit)))
                .ToList();
            results.AddRange(modelResults);
            var scoredText = string.Create(CultureInfo.InvariantCulture, $"scored {inScores.Length + modelResults.Sum(r => r.OodScores.Length)} images; model total {clock.Elapsed.TotalSeconds:F0} s");
            console.WriteLine(scoredText + ".");

            var histogram = Path.Combine(options.OutputDirectory, $"{stem}-bits-per-dim");
            Plots.Histogram(histogram, $"{stem}: bits/dim, Fashion-MNIST test vs OOD sets", "bits/dim (lower = more likely)",
                [(inTest.Name + " (in-dist.)", inScores), .. modelResults.Select(r => (r.OutOfDistribution, r.OodScores))]);
            var roc = Path.Combine(options.OutputDirectory, $"{stem}-roc");
            Plots.Roc(roc, $"{stem}: ROC, score = bits/dim, OOD = positive", modelResults);
            var grids = new List<string>();
            flow.eval();
            foreach (var temperature in Temperatures)
            {
                var pixels = SampleAtTemperature(flow, GridSamples, temperature, options.Seed);
                var grid = Path.Combine(options.OutputDirectory, string.Create(CultureInfo.InvariantCulture, $"{stem}-samples-t{temperature:F1}"));
                Plots.ImageGrid(grid, string.Create(CultureInfo.InvariantCulture, $"{stem}: {GridSamples} samples at temperature T = {temperature:F1} (seed {options.Seed})"),
                    pixels, GridSamples, 28, 28, GridColumns,
                    columnLabels: Enumerable.Range(1, GridColumns).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray(),
                    rowLabels: Enumerable.Range(0, GridSamples / GridColumns).Select(r => string.Create(CultureInfo.InvariantCulture, $"T = {temperature:F1}\nsamples {(r * GridColumns) + 1}–{(r + 1) * GridColumns}")).ToArray());
                grids.Add(grid);
            }

            foreach (var stemPath in new[] { histogram, roc }.Concat(grids))
            {
                files.Add(stemPath + ".png");
                files.Add(stemPath + ".svg");
            }

            files.AddRange(trained.Curve.Write(options.OutputDirectory, stem));

            sections.AppendLine(CultureInfo.InvariantCulture, $"### {description}").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"{trainedText}; {scoredText}.").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{stem} bits/dim histogram]({Path.GetFileName(histogram)}.png) ![{stem} ROC]({Path.GetFileName(roc)}.png)").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{stem} training curve]({stem}-training.png)").AppendLine()
                .AppendLine(string.Join(' ', grids.Select(g => $"![{Path.GetFileName(g)}]({Path.GetFileName(g)}.png)"))).AppendLine();
        }

        OodResult.Write(console, plain, $"Likelihood as an OOD score: {inTest.Name} (in-dist.) vs each OOD set, OOD = positive", results);
        var markdownPath = Path.Combine(options.OutputDirectory, "baseline.md");
        var page = new StringBuilder()
            .AppendLine("## Experiment 1: the baseline (Kirichenko et al. 2020, Fig. 1)").AppendLine()
            .AppendLine("RealNVP and Glow trained on Fashion-MNIST; the score is the negative log-likelihood in bits/dim (higher = more OOD). "
                + "AUROC below 0.5 means the OOD set is found *more* likely than the in-distribution test set. "
                + "Synthetic sets are made from the Fashion-MNIST test images (noise: uniform pixels; constant: one gray level per image; inverted: 255 − x; "
                + "h/v-flipped; blurred: 3×3 box).").AppendLine()
            .Append(OodResult.Markdown(results)).AppendLine()
            .Append(sections)
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new BaselineReport(results, files, markdownPath, total.Elapsed);
    }

    /// <summary>
    /// <paramref name="count"/> samples at temperature T: z ~ N(0, T²) of the flow's event shape, x = Transform.Inverse(z),
    /// clamped to [0, 1]. The flow must be in evaluation mode.
    /// </summary>
    public static float[] SampleAtTemperature(NormalizingFlow flow, int count, double temperature, long seed)
    {
        ArgumentNullException.ThrowIfNull(flow);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        long[] shape = [count, .. flow.EventShape];
        // Scalars made with `using` stay reachable during the native call (docs/design.md, "Scalars").
        using var scale = temperature.ToScalar();
        using var low = 0.ToScalar();
        using var high = 1.ToScalar();
        var z = randn(shape, generator: generator).mul_(scale);
        var (x, _) = flow.Transform.Inverse(z);
        return x.clamp(low, high).to(ScalarType.Float32).cpu().data<float>().ToArray();
    }
}
