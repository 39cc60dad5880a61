using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Scoring;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood generalise</c>. Null overrides take the budget's value.</summary>
internal sealed record GeneraliseOptions : ExperimentOptions
{
    /// <summary>The report sets: MNIST and every synthetic shift of the Fashion-MNIST test images.</summary>
    public static readonly string[] ReportSets = ["mnist", "noise", "constant", "inverted", "hflip", "vflip", "blur"];

    /// <summary>The synthetic shifts of held-out training images that the selection sees (h-flip is near-in-distribution).</summary>
    public static readonly string[] ValidationShifts = ["noise", "constant", "inverted", "vflip", "blur"];

    /// <summary>Fashion-MNIST classes left out of the selection flows' training and used as semantic validation OOD: trouser, bag.</summary>
    public static readonly byte[] HeldOutClasses = [1, 8];

    /// <summary>Seeds the report runs (the selection uses the first).</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>Training steps of the local flow; null: the budget's.</summary>
    public int? LocalSteps { get; init; }

    /// <summary>The local model: autoregressive (<see cref="AutoregressiveFlowOptions.Local"/>) or flow (<see cref="SingleScaleRealNvpOptions.Local"/>).</summary>
    public string Local { get; init; } = "autoregressive";

    /// <summary>The full flow: glow or realnvp (the baseline's models), or autoregressive (<see cref="GeneraliseExperiment.FullAutoregressive"/>).</summary>
    public string Model { get; init; } = "glow";

    /// <summary>Report sets: names of <see cref="ReportSets"/> or IDX folders.</summary>
    public IReadOnlyList<string> OodSets { get; init; } = ReportSets;

    /// <summary>Replaces the budget's full flow (tests); null: the baseline's <see cref="Model"/>.</summary>
    public BaselineModel? FullModel { get; init; }

    /// <summary>Replaces the local flow (tests); null: <see cref="SingleScaleRealNvpOptions.Local"/>.</summary>
    public BaselineModel? LocalModel { get; init; }

    /// <summary>Candidate keys to run (NLL always runs: it is the cost reference); null: every candidate.</summary>
    public IReadOnlyList<string>? Candidates { get; init; }

    /// <summary>Adam steps of the rotation-prediction network; null: the library's default.</summary>
    public int? RotationSteps { get; init; }

    /// <summary>Where trained flows are found and kept; null: a cache of the run's own.</summary>
    public FlowCache? Cache { get; init; }

    /// <summary>Scoring may cost at most this many times the NLL scorer's time for a scorer to be recommended.</summary>
    public double MaxCostRatio { get; init; } = 3;

    public int EffectiveTrainImages => TrainImages ?? (Budget == Budget.Quick ? 20_000 : 50_000);

    /// <remarks>
    /// Standard: 2,000 images per set, the local flow 600 steps as quick (38,400 images seen), the full flow the
    /// baseline's standard Glow (1,500 steps; seed 1 reused from the baseline), 3 seeds. Time, from the quick runs on 2
    /// cores (15.2 min for 3 seeds: about 6 min of scoring — the candidates cost 47 NLL passes together — and about 9 min
    /// of training: per training set a Glow, the local flow and the 1,500-step rotation network): scoring doubles to about
    /// 12 min, the Glows take 2.5× longer (about +2.5 min): about 24 min.
    /// </remarks>
    public int EffectiveEvaluationLimit => EvaluationLimit ?? (Budget == Budget.Quick ? 1_000 : 2_000);

    public int EffectiveLocalSteps => LocalSteps ?? (Budget is Budget.Quick or Budget.Standard ? 600 : 3_000);
}

/// <summary>
/// Which OOD scores generalise (issue 20): every candidate scorer built on one full flow (and, for the local likelihood
/// ratio, a local flow) trained on Fashion-MNIST; one is chosen on in-distribution-derived validation sets only
/// (held-out training images, their synthetic shifts, Fashion-MNIST classes held out of training), then every
/// candidate is reported on MNIST, the synthetic shifts of the test images and any <c>--ood</c> folder over several
/// seeds, with bootstrap confidence intervals. Writes <c>generalise.md</c>.
/// </summary>
internal static class GeneraliseExperiment
{
    private const int FitStart = 50_000;
    private const int FitCount = 2_000;
    private const int ValidationStart = 52_000;

    public static GeneraliseReport Run(GeneraliseOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var (data, total) = options.Start();
        var limit = options.EffectiveEvaluationLimit;
        var trainCount = Math.Min(Math.Min(options.EffectiveTrainImages, FitStart), data.FashionTrain.Count);
        var full = options.FullModel ?? FullModel(options.Model, options.Budget);
        var fullSteps = options.Steps ?? full.Steps;
        var local = options.LocalModel ?? LocalModel(options.Local, options.EffectiveLocalSteps);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: full flow {full.Stem} {fullSteps} steps, local flow {local.Steps} steps, × {options.BatchSize} images, {trainCount} training images, {limit} images per set, seeds {options.Seed}–{options.Seed + options.Seeds - 1}");
        console.WriteLine($"Generalise ({budgetText}).");

        using var ownCache = options.Cache is null ? new FlowCache(options.EffectivePrecision) : null;
        var cache = options.Cache ?? ownCache!;
        using var rotations = new RotationCache(console);
        var candidates = options.Candidates is null ? Candidates.All : Candidates.All.Where(c => c.Key == "nll" || options.Candidates.Contains(c.Key)).ToList();
        var fashionTrain = data.FashionTrain.Take(trainCount);
        using var fit = data.FashionTrain.ToTensor(FitStart, FitCount);

        // Selection: seed options.Seed, validation sets derived from in-distribution data only.
        var validationIn = ImageSubsets.Slice(data.FashionTrain, ValidationStart, limit, "held-out training images");
        var shifted = GeneraliseOptions.ValidationShifts
            .Select(name => (Name: name, Set: SyntheticOodSets.Create(name, validationIn, options.NoiseSeed + 1000)))
            .ToList();
        var keptTrain = ImageSubsets.WhereLabel(fashionTrain, label => !GeneraliseOptions.HeldOutClasses.Contains(label), "Fashion-MNIST train without trouser and bag");
        var classIn = ImageSubsets.WhereLabel(validationIn, label => !GeneraliseOptions.HeldOutClasses.Contains(label), "held-out training images, kept classes");
        var classOut = ImageSubsets.WhereLabel(ImageSubsets.Slice(data.FashionTrain, ValidationStart, data.FashionTrain.Count - ValidationStart, "held-out"), label => GeneraliseOptions.HeldOutClasses.Contains(label), "held-out classes (trouser, bag)", limit);

        var validation = new List<CandidateResult>();
        {
            var flows = Train(cache, rotations, full, fullSteps, local, fashionTrain, options, options.Seed, console, plain);
            using (var fullNll = new NegativeLogLikelihoodScorer(flows.Full))
            {
                console.WriteLine(FormattableString.Invariant($"held-out bits/dim: full {CompareScorers.Score(fullNll, validationIn, limit).Average():F3}"));
            }

            if (candidates.Any(c => c.Key.Contains("local", StringComparison.Ordinal)))
            {
                using var localNll = new NegativeLogLikelihoodScorer(flows.Local());
                console.WriteLine(FormattableString.Invariant($"held-out bits/dim: local {CompareScorers.Score(localNll, validationIn, limit).Average():F3}"));
            }

            foreach (var candidate in candidates)
            {
                using var scorer = candidate.Build(flows, fit);
                var clock = Stopwatch.StartNew();
                var inScores = CompareScorers.Score(scorer, validationIn, limit);
                var results = shifted.Select(s => new OodResult(candidate.Key, validationIn.Name, s.Name, inScores, CompareScorers.Score(scorer, s.Set, limit))).ToList();
                var seconds = clock.Elapsed.TotalSeconds;
                validation.Add(new CandidateResult(candidate, results, seconds));
                console.WriteLine(FormattableString.Invariant($"validation {candidate.Key}: {string.Join(", ", results.Select(r => $"{Short(r.OutOfDistribution)} {r.Auroc:F3}"))}; {seconds:F1} s"));
            }
        }

        {
            var flows = Train(cache, rotations, full, fullSteps, local, keptTrain, options, options.Seed, console, plain);
            using var keptFit = FitTensor(data.FashionTrain);
            for (int i = 0; i < candidates.Count; i++)
            {
                using var scorer = candidates[i].Build(flows, keptFit);
                var result = new OodResult(candidates[i].Key, classIn.Name, "held-out classes", CompareScorers.Score(scorer, classIn, limit), CompareScorers.Score(scorer, classOut, limit));
                validation[i] = validation[i] with { Results = [.. validation[i].Results, result] };
            }
        }

        var nllSeconds = validation.Single(v => v.Candidate.Key == "nll").Seconds;
        var eligible = validation.Where(v => v.Seconds <= options.MaxCostRatio * nllSeconds).ToList();
        var chosen = eligible.OrderByDescending(v => v.Results.Min(r => r.Auroc)).ThenByDescending(v => v.Results.Average(r => r.Auroc)).First();
        console.WriteLine($"Chosen on validation sets only: {chosen.Candidate.Label} (worst validation AUROC {chosen.Results.Min(r => r.Auroc):F3}).");

        // Report: every report set; every candidate on the first seed, the chosen one and NLL on each seed.
        var inTest = ExperimentOptions.TestImages(data, limit);
        var reportSets = options.LoadOodSets(data, options.OodSets, limit);
        var report = new List<(long Seed, string Key, IReadOnlyList<OodResult> Results)>();
        for (long seed = options.Seed; seed < options.Seed + options.Seeds; seed++)
        {
            var flows = Train(cache, rotations, full, fullSteps, local, fashionTrain, options, seed, console, plain);
            // Every candidate on the first seed; the chosen one and NLL (the reference) on every seed.
            foreach (var candidate in candidates.Where(c => seed == options.Seed || c.Key == chosen.Candidate.Key || c.Key == "nll"))
            {
                using var scorer = candidate.Build(flows, fit);
                var inScores = CompareScorers.Score(scorer, inTest, limit);
                report.Add((seed, candidate.Key, reportSets.Select(set => new OodResult(candidate.Key, inTest.Name, set.Name, inScores, CompareScorers.Score(scorer, set, limit))).ToList()));
            }

            var latest = report.Last(r => r.Key == chosen.Candidate.Key).Results.Select(r => FormattableString.Invariant($"{Short(r.OutOfDistribution)} {r.Auroc:F3}"));
            console.WriteLine(FormattableString.Invariant($"seed {seed}: {chosen.Candidate.Key} AUROC {string.Join(", ", latest)}"));
        }

        var page = GeneralisePage.Write(options, full, fullSteps, local, trainCount, validation, chosen, nllSeconds, report, reportSets.Select(s => s.Name).ToList(), budgetText, total.Elapsed);
        var path = Path.Combine(options.OutputDirectory, "generalise.md");
        ReproduceExperiment.WriteAtomically(path, page);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {path} in {total.Elapsed.TotalMinutes:F1} min."));
        return new GeneraliseReport(validation, chosen.Candidate.Key, report.Select(r => new ScorerRow(r.Seed.ToString(CultureInfo.InvariantCulture), r.Key, r.Results)).ToList(), path, total.Elapsed);
    }

    /// <summary>
    /// The full flow of <c>--model</c>: the baseline's glow or realnvp, or autoregressive: the local model's family with a
    /// wide context (two layers in opposite orders, four masked 3×3 context layers each), so that the likelihood ratio
    /// compares two models that fit local statistics alike and differ in how far they see.
    /// </summary>
    public static BaselineModel FullModel(string kind, Budget budget) => kind == "autoregressive"
        ? new BaselineModel("full-ar", "autoregressive flow (2 layers in opposite orders, masked 7×7 convolution + 4 masked 3×3 context layers, width 16)", budget switch { Budget.Quick => 600, Budget.Standard => 1_500, _ => 3000 }, () => AutoregressiveFlow.Create([1, 28, 28], FullAutoregressive))
        : BaselineExperiment.Models(budget).Single(m => m.Stem == kind);

    /// <summary>The options of the autoregressive full flow.</summary>
    public static AutoregressiveFlowOptions FullAutoregressive { get; } = new() { Layers = 2, Window = 7, Width = 16, ContextLayers = 4, Blocks = 1 };

    /// <summary>The local model of <c>--local</c>: autoregressive or flow.</summary>
    public static BaselineModel LocalModel(string kind, int steps) => kind switch
    {
        "autoregressive" => new BaselineModel("local-ar", "local autoregressive flow (AutoregressiveFlowOptions.Local: one masked 7×7 convolution, one 1×1 block, width 32)", steps, () => AutoregressiveFlow.Create([1, 28, 28], AutoregressiveFlowOptions.Local)),
        "flow" => new BaselineModel("local", "local flow (SingleScaleRealNvpOptions.Local: 4 checkerboard couplings, 3×3 windows, no squeeze)", steps, () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.Local)),
        _ => throw new ArgumentException($"Unknown local model \"{kind}\"; use autoregressive or flow.", nameof(kind)),
    };

    private static Tensor FitTensor(ImageDataset train)
    {
        var kept = ImageSubsets.WhereLabel(ImageSubsets.Slice(train, FitStart, FitCount, "fit"), label => !GeneraliseOptions.HeldOutClasses.Contains(label), "fit");
        return kept.ToTensor(0, kept.Count);
    }

    private static CandidateModels Train(
        FlowCache cache, RotationCache rotations, BaselineModel full, int fullSteps, BaselineModel local, ImageDataset train, GeneraliseOptions options, long seed, IAnsiConsole console, bool plain)
    {
        var fullFlow = cache.GetOrTrain(full, fullSteps, options.BatchSize, train, train.Count, seed, console, plain, options.EffectivePrecision).Flow;
        return new CandidateModels(
            fullFlow,
            () => cache.GetOrTrain(local, local.Steps, options.BatchSize, train, train.Count, seed, console, plain, options.EffectivePrecision).Flow,
            () => rotations.GetOrTrain(train, seed, options.RotationSteps));
    }

    /// <summary>A short column label for a set name.</summary>
    public static string Short(string set) => set switch
    {
        _ when set.StartsWith("MNIST", StringComparison.Ordinal) => "mnist",
        _ when set.StartsWith("uniform noise", StringComparison.Ordinal) => "noise",
        _ when set.StartsWith("constant", StringComparison.Ordinal) => "constant",
        _ when set.StartsWith("inverted", StringComparison.Ordinal) => "inverted",
        _ when set.StartsWith("h-flipped", StringComparison.Ordinal) => "hflip",
        _ when set.StartsWith("v-flipped", StringComparison.Ordinal) => "vflip",
        _ when set.StartsWith("blurred", StringComparison.Ordinal) => "blur",
        _ => set,
    };
}

/// <summary>A candidate's validation results and the seconds it took to score the validation in-distribution set.</summary>
internal sealed record CandidateResult(Candidate Candidate, IReadOnlyList<OodResult> Results, double Seconds);

/// <summary>What <see cref="GeneraliseExperiment.Run"/> produced.</summary>
internal sealed record GeneraliseReport(IReadOnlyList<CandidateResult> Validation, string Chosen, IReadOnlyList<ScorerRow> Report, string MarkdownPath, TimeSpan Elapsed);
