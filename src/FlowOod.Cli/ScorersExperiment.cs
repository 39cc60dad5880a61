using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Samples.FashionMnist;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood scorers</c>. Null overrides take the budget's value.</summary>
internal sealed record ScorersOptions : ExperimentOptions
{
    /// <summary>
    /// The OOD sets every scorer is reported on: MNIST and the synthetic sets that no setting was chosen on. The
    /// validation sets of <see cref="LikelihoodRatioSelection"/> (vflip, blur) are left out on purpose.
    /// </summary>
    public static readonly string[] ReportSets = ["mnist", "noise", "constant", "inverted", "hflip"];

    /// <summary>Flows per WAIC ensemble (the model's own flow first); null: the budget's (quick: 3 for Glow, none for RealNVP).</summary>
    public int? Ensemble { get; init; }

    public LikelihoodRatioSetting Background { get; init; } = LikelihoodRatioSetting.Default;

    public int? ClassifierSteps { get; init; }

    /// <summary>Adam steps of the rotation-prediction network of the recommended score; null: the library's default.</summary>
    public int? RotationSteps { get; init; }

    public IReadOnlyList<string> OodSets { get; init; } = ReportSets;

    /// <summary>Replaces the budget's models (tests); null: the baseline's.</summary>
    public IReadOnlyList<BaselineModel>? Models { get; init; }

    /// <summary>Where trained flows are found and kept; null: a cache of the run's own.</summary>
    public FlowCache? Cache { get; init; }

    public int EffectiveSteps(BaselineModel model) => Steps ?? model.Steps;

    /// <summary>WAIC ensemble size of <paramref name="model"/> (below 2: no WAIC row): full 5; quick and standard 3 Glows (seeds s, s + 1, s + 2) and one RealNVP.</summary>
    public int EffectiveEnsemble(BaselineModel model) => Ensemble ?? (Budget == Budget.Full ? 5 : model.Stem == "glow" ? 3 : 1);

    /// <summary>
    /// Whether <paramref name="model"/> gets a likelihood-ratio background: every model at the full budget, at the quick
    /// and standard budgets only the Glow the background setting was chosen on (a RealNVP background trains as long as
    /// RealNVP itself, about 3 minutes on 2 cores).
    /// </summary>
    public bool HasBackground(BaselineModel model) => Budget == Budget.Full || Models is not null || model.Stem == "glow";

    public int EffectiveTrainImages => TrainImages ?? (Budget == Budget.Quick ? 20_000 : 50_000);

    /// <remarks>
    /// Standard's time, from the quick run on 2 cores (RealNVP's scorers 106 s and the Glow's 101 s at 1,000 images per
    /// set, the Glow's including two more Glows for WAIC, a background and the rotation network; feature-space flow 18 s):
    /// at 2,000 images per set and the standard models (flows reused from the baseline; Glow ensemble members and the
    /// background 1,500 steps, about 65 s each), RealNVP's scorers about 3.5 min, the Glow's about 5.5 min, the
    /// feature-space flow (3,000 classifier steps) about 0.6 min: about 10 min.
    /// </remarks>
    public int EffectiveEvaluationLimit => EvaluationLimit ?? Budget switch { Budget.Quick => 1_000, Budget.Standard => 2_000, _ => 10_000 };

    public int EffectiveClassifierSteps => ClassifierSteps ?? Budget switch { Budget.Quick => 1_500, Budget.Standard => 3_000, _ => 6_000 };
}

/// <summary>One scorer's results on every OOD set.</summary>
internal sealed record ScorerRow(string Model, string Scorer, IReadOnlyList<OodResult> Results);

/// <summary>What <see cref="ScorersExperiment.Run"/> produced.</summary>
internal sealed record ScorersReport(IReadOnlyList<ScorerRow> Rows, double ClassifierAccuracy, IReadOnlyList<string> Files, string MarkdownPath, TimeSpan Elapsed);

/// <summary>
/// Experiments 6 and 7 (Kirichenko et al. 2020, Sec. 8, and the scores of reference §7): on each pixel flow of the
/// baseline, the negative log-likelihood, the likelihood ratio (background made as <see cref="ScorersOptions.Background"/>
/// says), input complexity (PNG), the single-example typicality test and WAIC over an ensemble; and the feature-space
/// flow on a small CNN's embedding. Every scorer on MNIST and on the synthetic sets no setting was chosen on; a table of
/// AUROCs, ROC curves on MNIST per model, and the feature-space flow's histogram and ROC; writes <c>scorers.md</c>.
/// </summary>
internal static class ScorersExperiment
{
    private const int HeldOutStart = 50_000;
    private const int HeldOutCount = 2_000;

    public static ScorersReport Run(ScorersOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var (data, total) = options.Start();
        var limit = options.EffectiveEvaluationLimit;
        var inTest = ExperimentOptions.TestImages(data, limit);
        var oodSets = options.LoadOodSets(data, options.OodSets, limit);
        var trainCount = Math.Min(Math.Min(options.EffectiveTrainImages, HeldOutStart), data.FashionTrain.Count);
        var models = options.Models ?? BaselineExperiment.Models(options.Budget);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {string.Join(", ", models.Select(m => $"{m.Stem} {options.EffectiveSteps(m)} steps (WAIC ensemble {options.EffectiveEnsemble(m)})"))} × {options.BatchSize} images, Adam lr 0.001, "
            + $"{trainCount} Fashion-MNIST training images, llr background {options.Background.Label}, typicality entropy from Fashion-MNIST training images {HeldOutStart}–{HeldOutStart + HeldOutCount - 1}, "
            + $"classifier {options.EffectiveClassifierSteps} steps, {inTest.Count} images per evaluation set, seed {options.Seed}");
        console.WriteLine($"Scorers ({budgetText}); {get_num_threads()} threads.");

        using var ownCache = options.Cache is null ? new FlowCache(options.EffectivePrecision) : null;
        var cache = options.Cache ?? ownCache!;
        using var train = data.FashionTrain.ToTensor(0, trainCount);
        using var heldOut = data.FashionTrain.ToTensor(HeldOutStart, Math.Min(HeldOutCount, data.FashionTrain.Count - HeldOutStart));
        var rows = new List<ScorerRow>();
        var files = new List<string>();
        var sections = new StringBuilder();
        using var rotations = new RotationCache(console);
        foreach (var model in models)
        {
            var steps = options.EffectiveSteps(model);
            var clock = Stopwatch.StartNew();
            var ensemble = Enumerable.Range(0, Math.Max(1, options.EffectiveEnsemble(model)))
                .Select(k => cache.GetOrTrain(model, steps, options.BatchSize, data.FashionTrain, trainCount, options.Seed + k, console, plain, options.EffectivePrecision, evaluateHeldOut: true))
                .ToList();
            var curves = ensemble.Select((e, k) => k == 0 ? model.Stem : string.Create(CultureInfo.InvariantCulture, $"{model.Stem}-seed{options.Seed + k}")).ToList();
            for (int k = 0; k < ensemble.Count; k++)
            {
                files.AddRange(ensemble[k].Curve.Write(options.OutputDirectory, curves[k]));
            }

            var flow = ensemble[0].Flow;
            using var background = options.HasBackground(model)
                ? options.Background.Background(flow, model.Build, train, steps, options.BatchSize, options.Seed, console, plain, options.EffectivePrecision)
                : null;
            var scorers = new List<IOodScorer> { new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim) };
            if (background is not null)
            {
                scorers.Add(options.Background.Scorer(flow, background, heldOut));
            }

            scorers.Add(new InputComplexityScorer(flow, new PngCompressor()));
            scorers.Add(TypicalityScorer.Fit(flow, heldOut));
            scorers.Add(DoseScorer.Fit(flow, heldOut, maxSamplesPerStatistic: Detection.ImageDetectors.DoseSamplesPerStatistic));
            scorers.Add(Recommended(flow, rotations.GetOrTrain(data.FashionTrain.Take(trainCount), options.Seed, options.RotationSteps), heldOut));
            if (ensemble.Count >= 2)
            {
                scorers.Add(new WaicScorer(ensemble.Select(e => e.Flow).ToList()));
            }

            var modelRows = new List<ScorerRow>();
            foreach (var scorer in scorers)
            {
                using (scorer)
                {
                    modelRows.Add(Evaluate(model.Stem, scorer, inTest, oodSets, limit));
                }
            }

            rows.AddRange(modelRows);
            var roc = Path.Combine(options.OutputDirectory, $"{model.Stem}-scorers-roc-mnist");
            var onMnist = modelRows.Select(r => r.Results[0]).ToList();
            Plots.Roc(roc, $"{model.Stem}: every scorer, {onMnist[0].InDistribution} vs {onMnist[0].OutOfDistribution}", onMnist, r => ShortName(r.Scorer));
            files.Add(roc + ".png");
            files.Add(roc + ".svg");
            var waicText = ensemble.Count >= 2
                ? string.Create(CultureInfo.InvariantCulture, $"WAIC over {ensemble.Count} flows (seeds {options.Seed}–{options.Seed + ensemble.Count - 1})")
                : "no WAIC (one flow at this budget)";
            var ratioText = background is null ? "no likelihood ratio (quick budget: only the Glow gets a background)" : $"llr background {options.Background.Label}";
            var modelText = string.Create(CultureInfo.InvariantCulture, $"{ensemble[0].Summary}; {waicText}; {ratioText}; {clock.Elapsed.TotalSeconds:F0} s for this model's scorers");
            console.WriteLine(modelText + ".");
            sections.AppendLine(CultureInfo.InvariantCulture, $"### {model.Description}").AppendLine()
                .AppendLine(modelText + ".").AppendLine()
                .AppendLine(CultureInfo.InvariantCulture, $"![{model.Stem} scorers ROC on MNIST]({Path.GetFileName(roc)}.png)").AppendLine()
                .AppendLine(string.Join(' ', curves.Select(c => $"![{c} training curve]({c}-training.png)"))).AppendLine();
        }

        // Experiment 6: the feature-space flow (Sec. 8) on the embedding of a small CNN trained on the same images.
        var featureClock = Stopwatch.StartNew();
        var classifierSteps = options.EffectiveClassifierSteps;
        var (classifier, loss) = SmallClassifier.Train(data.FashionTrain, trainCount, embeddingSize: 32, classifierSteps, batchSize: 64, learningRate: 2e-3, options.Seed, default);
        double accuracy;
        ScorerRow featureRow;
        using (classifier)
        {
            accuracy = classifier.Accuracy(data.FashionTest, Math.Min(2000, data.FashionTest.Count));
            using var featureScorer = FeatureSpaceScorer.Fit(
                classifier.Embedding,
                train,
                new FeatureSpaceFitOptions
                {
                    Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                    Training = new TrainingOptions { Steps = 2 * classifierSteps, BatchSize = 128, Seed = options.Seed },
                });
            featureRow = Evaluate("classifier", featureScorer, inTest, oodSets, limit);
        }

        rows.Add(featureRow);
        var featureText = string.Create(CultureInfo.InvariantCulture,
            $"Small CNN (2 conv layers, 32-dim embedding), {classifierSteps} Adam steps at lr 0.002 on the same {trainCount} images, final loss {loss:F3}, accuracy {accuracy:F3} on 2,000 Fashion-MNIST test images; "
            + $"tabular RealNVP (4 couplings, width 64) fitted on the standardized embeddings for {2 * classifierSteps} steps; {featureClock.Elapsed.TotalSeconds:F0} s in all");
        console.WriteLine(featureText + ".");
        var featureHistogram = Path.Combine(options.OutputDirectory, "feature-space-nll");
        Plots.Histogram(featureHistogram, "feature-space flow: NLL of the embedding, Fashion-MNIST test vs OOD sets", "NLL of the embedding (nats)",
            [(inTest.Name + " (in-dist.)", featureRow.Results[0].InScores), .. featureRow.Results.Select(r => (r.OutOfDistribution, r.OodScores))]);
        var featureRoc = Path.Combine(options.OutputDirectory, "feature-space-roc");
        Plots.Roc(featureRoc, "feature-space flow: ROC, OOD = positive", featureRow.Results);
        files.AddRange([featureHistogram + ".png", featureHistogram + ".svg", featureRoc + ".png", featureRoc + ".svg"]);

        var table = Terminal.NewTable(plain, $"AUROC, {inTest.Name} (in-dist.) vs each OOD set, OOD = positive");
        table.AddColumn("model");
        table.AddColumn("scorer");
        foreach (var set in oodSets)
        {
            table.AddColumn(new TableColumn(Markup.Escape(set.Name)).RightAligned());
        }

        foreach (var row in rows)
        {
            table.AddRow([Markup.Escape(row.Model), Markup.Escape(ShortName(row.Scorer)), .. row.Results.Select(r => F(r.Auroc))]);
        }

        console.Write(table);
        var markdownPath = Path.Combine(options.OutputDirectory, "scorers.md");
        var page = new StringBuilder()
            .AppendLine("## Experiments 6 and 7: other scores and the feature-space flow (Sec. 8; reference §7)").AppendLine()
            .AppendLine("Every scorer is oriented so that higher = more OOD; AUROC with OOD = positive (0.5 = chance). The sets are MNIST and the synthetic "
                + "sets no setting was chosen on; the vertically flipped and blurred sets are left out because the likelihood ratio's background "
                + "setting was chosen on them (from held-out training images, see `flowood llr-select`).").AppendLine()
            .Append(WideTable(rows, oodSets.Select(s => s.Name).ToList())).AppendLine()
            .AppendLine("MNIST in detail (AUPR-Out and FPR at 95% TPR as well):").AppendLine()
            .Append(OodResult.Markdown(rows.Select(r => r.Results[0] with { Scorer = $"{r.Model}: {ShortName(r.Scorer)}" }))).AppendLine()
            .Append(sections)
            .AppendLine("### Feature-space flow (Sec. 8)").AppendLine()
            .AppendLine(featureText + ".").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"![feature-space NLL histogram]({Path.GetFileName(featureHistogram)}.png) ![feature-space ROC]({Path.GetFileName(featureRoc)}.png)").AppendLine()
            .Append(Experiments.PageFooter.Markdown(options, total.Elapsed, budgetText));
        File.WriteAllText(markdownPath, page.ToString());
        files.Add(markdownPath);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return new ScorersReport(rows, accuracy, files, markdownPath, total.Elapsed);
    }

    /// <summary>A scorer's name without its unit, for tables and legends.</summary>
    public static string ShortName(string scorer)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var open = scorer.IndexOf(" (", StringComparison.Ordinal);
        return scorer switch
        {
            _ when scorer.StartsWith("score density of [DoSE", StringComparison.Ordinal) => RecommendedLabel,
            _ when scorer.StartsWith("Input complexity", StringComparison.Ordinal) => "input complexity (PNG)",
            _ when scorer.StartsWith("Typicality", StringComparison.Ordinal) => "typicality |NLL − Ĥ|",
            _ => open > 0 ? scorer[..open] : scorer,
        };
    }

    private const string RecommendedLabel = "recommended: density of DoSE and rotation prediction";

    // The score ImageDetectors.Fit builds by default (ImageScore.DoseAndRotation): DoSE fitted on the first half of the
    // held-out images, the density of (DoSE, rotation prediction) on the second; the rotation network stays the cache's.
    private static IOodScorer Recommended(NormalizingFlow flow, RotationPredictionScorer rotation, Tensor heldOut)
    {
        var half = heldOut.shape[0] / 2;
        using var doseFit = heldOut.narrow(0, 0, half);
        using var densityFit = heldOut.narrow(0, half, heldOut.shape[0] - half);
        return ScoreDensityScorer.Fit(
            [DoseScorer.Fit(flow, doseFit, maxSamplesPerStatistic: Detection.ImageDetectors.DoseSamplesPerStatistic), new BorrowedScorer(rotation)],
            densityFit,
            Detection.ImageDetectors.DoseSamplesPerStatistic,
            ownsMembers: true);
    }

    /// <summary>AUROC of every row on every set as a Markdown table, rows = model and scorer, columns = sets.</summary>
    public static string WideTable(IReadOnlyList<ScorerRow> rows, IReadOnlyList<string> sets)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(sets);
        var text = new StringBuilder();
        text.Append("| model | scorer | ").AppendJoin(" | ", sets.Select(s => $"AUROC {s}")).AppendLine(" |");
        text.Append("|---|---|").AppendJoin("", sets.Select(_ => "---:|")).AppendLine();
        foreach (var row in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {row.Model} | {ShortName(row.Scorer).Replace("|", "\\|", StringComparison.Ordinal)} | ")
                .AppendJoin(" | ", row.Results.Select(r => F(r.Auroc))).AppendLine(" |");
        }

        return text.ToString();
    }

    private static ScorerRow Evaluate(string model, IOodScorer scorer, ImageDataset inTest, IReadOnlyList<ImageDataset> oodSets, int limit)
    {
        var inScores = CompareScorers.Score(scorer, inTest, limit);
        return new ScorerRow(model, scorer.Name, oodSets.Select(set => new OodResult(scorer.Name, inTest.Name, set.Name, inScores, CompareScorers.Score(scorer, set, limit))).ToList());
    }

    private static string F(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
