using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Which comparisons a model of <c>flowood biases</c> belongs to.</summary>
internal enum BiasesFamily
{
    /// <summary>The same-depth checkerboard baseline with the ResNet st-network: the reference of the mask comparison.</summary>
    Baseline,

    /// <summary>Another mask with the baseline's st-network (cycle-mask, horizontal).</summary>
    Mask,

    /// <summary>The baseline's masks with an l-bottleneck st-network.</summary>
    Bottleneck,

    /// <summary>The bottleneck models' st-network family without the bottleneck: the reference of the bottleneck comparison.</summary>
    Unbottlenecked,
}

/// <summary>One model of experiment 4: file stem, description, comparison family and builder.</summary>
internal sealed record BiasesModel(string Stem, string Description, BiasesFamily Family, Func<NormalizingFlow> Build);

/// <summary>Options of <c>flowood biases</c>. Null overrides take the budget's value.</summary>
internal sealed record BiasesOptions : ExperimentOptions
{
    /// <summary>Held-out in-distribution images start at this Fashion-MNIST training index.</summary>
    public const int HeldOutStart = 50_000;

    /// <summary>l of the bottleneck sweep; null: the budget's.</summary>
    public IReadOnlyList<int>? LatentSizes { get; init; }

    /// <summary>Seeds per model (<see cref="ExperimentOptions.Seed"/>, +1, …); null: the budget's (quick 1, standard and full 3).</summary>
    public int? Seeds { get; init; }

    /// <summary>Replaces the budget's models (tests run the experiment with tiny ones); null: the budget's.</summary>
    public IReadOnlyList<BiasesModel>? Models { get; init; }

    /// <summary>
    /// Steps per model. Standard: 375 × 64 = 24,000 images seen, above the official code's ~16–22k in ~900 s per model
    /// on 2 cores (the anchor of issue 21).
    /// </summary>
    public int EffectiveSteps => Steps ?? Budget switch { Budget.Quick => 60, Budget.Standard => 375, _ => 3000 };

    /// <summary>Evaluations during training (every steps/checkpoints steps, and after the last step).</summary>
    public int EffectiveCheckpoints => Budget == Budget.Standard ? 6 : 8;

    public int EffectiveSeeds => Seeds ?? (Budget == Budget.Quick ? 1 : 3);

    /// <summary>Fashion-MNIST training images 0 … N − 1, at most <see cref="HeldOutStart"/> so they never overlap the held-out images.</summary>
    public int EffectiveTrainImages => Math.Min(HeldOutStart, TrainImages ?? (Budget == Budget.Quick ? 20_000 : HeldOutStart));

    public int EffectiveEvaluationLimit => EvaluationLimit ?? (Budget == Budget.Quick ? 200 : 2_000);

    public IReadOnlyList<int> EffectiveLatentSizes => LatentSizes ?? Budget switch { Budget.Quick => [10, 20, 50], Budget.Standard => [20], _ => [10, 20, 50, 100] };

    /// <summary>Images per set of the latent-layout measure (Sec. 5) on each model's first seed: at most the evaluation limit, 500 at most.</summary>
    public int EffectiveLayoutImages => Math.Min(500, EffectiveEvaluationLimit);

    /// <summary>Dequantization draws averaged by the latent-layout measure.</summary>
    public int LayoutDraws => Budget == Budget.Quick ? 2 : 4;

    public IReadOnlyList<BiasesModel> EffectiveModels => Models ?? BiasesExperiment.ModelsOf(Budget, EffectiveLatentSizes);
}

/// <summary>What <see cref="BiasesExperiment.Run"/> produced.</summary>
internal sealed record BiasesReport(
    IReadOnlyList<BiasesRun> Runs,
    IReadOnlyList<BiasesSummary> Summaries,
    IReadOnlyList<MatchedRow> Matched,
    IReadOnlyList<BiasesComparison> Comparisons,
    IReadOnlyList<string> Files,
    string MarkdownPath,
    TimeSpan Elapsed);

/// <summary>
/// Experiment 4 (Kirichenko et al. 2020, Sec. 7; reference §3.6, §4.4, §4.5): changing the flow's inductive biases.
/// Single-scale RealNVPs with 8 couplings trained at equal budget on Fashion-MNIST, each at several seeds: checkerboard
/// (the baseline), cycle-mask and horizontal masks with the same ResNet st-network; the auto-encoder st-network without
/// and with an l-bottleneck. At each checkpoint: held-out in-distribution bits/dim and the NLL AUROC of Fashion-MNIST
/// test vs MNIST. Models are compared at equal budget (the last step) and at matched bits/dim
/// (<see cref="MatchedBitsPerDim"/>), with the noise rule of <see cref="BiasesComparison"/>. Each finished model is
/// saved (<see cref="BiasesRunStore"/>), so an interrupted run resumes.
/// </summary>
internal static class BiasesExperiment
{
    public const string MasksComparison = "masks";
    public const string BottleneckComparison = "bottleneck";
    public const string CrossFamilyComparison = "bottleneck vs ResNet";

    /// <summary>
    /// The budget's models. Quick: a width 16 × 1 block ResNet st-network, so that the experiment takes minutes on 2
    /// cores (about 0.2 s per step of 64 images at 2 threads; 1.1 s for an auto-encoder model). Standard: the official
    /// code's run of the anchor (width 32 × 2 blocks). Full: the paper's width 64 × 8 blocks. The bottleneck models use
    /// the reference's <c>--st_type=autoencoder --latent_dim=l</c> st-network on the baseline's 8 checkerboard couplings,
    /// and the same st-network without the bottleneck is their reference.
    /// </summary>
    public static IReadOnlyList<BiasesModel> ModelsOf(Budget budget, IReadOnlyList<int> latentSizes)
    {
        ArgumentNullException.ThrowIfNull(latentSizes);
        var (width, blocks) = budget switch { Budget.Quick => (16, 1), Budget.Standard => (32, 2), _ => (64, 8) };
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
            new("autoencoder", "8 checkerboard couplings, auto-encoder st-network without a bottleneck (the encoder's code goes straight to the decoder)",
                BiasesFamily.Unbottlenecked,
                () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Conditioner = new AutoencoderConditionerFactory(NoBottleneck.Instance) })),
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
        var synthetic = SyntheticOodSets.Names.Select(name => (Key: name, Set: SyntheticOodSets.Create(name, inTest, (int)(options.Seed & int.MaxValue)))).ToList();
        var steps = options.EffectiveSteps;
        // ⌈steps / checkpoints⌉: the checkpoints before the last one stay an interval apart from it (375 steps: 63, …, 315, 375).
        var interval = Math.Max(1, (steps + options.EffectiveCheckpoints - 1) / options.EffectiveCheckpoints);
        var models = options.EffectiveModels;
        var seeds = Enumerable.Range(0, options.EffectiveSeeds).Select(k => options.Seed + k).ToList();
        Directory.CreateDirectory(options.OutputDirectory);
        var precision = ConditionerPrecision.Choose(options.EffectivePrecision);
        var budgetText = string.Create(CultureInfo.InvariantCulture,
            $"budget {options.Budget.ToString().ToLowerInvariant()}: {models.Count} models × {seeds.Count} seed{(seeds.Count == 1 ? string.Empty : "s")} ({string.Join(", ", seeds)}) × {steps} steps × {options.BatchSize} images "
            + $"({steps * options.BatchSize:N0} images seen), Adam lr 0.001, {(precision.Precision == ComputePrecision.BFloat16 ? "bf16 st-networks (float32 where a linear bottleneck is: in bf16 it trained a different model)" : "fp32 st-networks")}, "
            + $"{trainCount} Fashion-MNIST training images (0–{trainCount - 1}); checkpoints every {interval} steps and after the last: "
            + $"held-out bits/dim on {heldOutCount} Fashion-MNIST training images {BiasesOptions.HeldOutStart}–{BiasesOptions.HeldOutStart + heldOutCount - 1}, "
            + $"AUROC on {inTest.Count} Fashion-MNIST test vs {mnist.Count} MNIST test images (the same images for every model and seed), scored in the training precision");
        console.WriteLine($"Biases ({budgetText}); {get_num_threads()} threads.");

        var store = new BiasesRunStore(options.OutputDirectory);
        var runs = new List<BiasesRun>();
        var files = new List<string>();
        using var train = data.FashionTrain.ToTensor(0, trainCount);
        using var heldOut = data.FashionTrain.ToTensor(BiasesOptions.HeldOutStart, heldOutCount);
        // Seeds outermost: an interrupted run has every model at the first seeds.
        foreach (var seed in seeds)
        {
            foreach (var model in models)
            {
                var settings = string.Create(CultureInfo.InvariantCulture,
                    $"{model.Stem}: {model.Description}; {steps} steps × {options.BatchSize}; checkpoints every {interval}; {trainCount} training images; {heldOutCount} held-out; "
                    + $"{inTest.Count} test, {mnist.Count} MNIST; layout {(seed == seeds[0] ? options.EffectiveLayoutImages : 0)} × {options.LayoutDraws}; synthetic {string.Join(",", SyntheticOodSets.Names)}; {precision.Precision}; FlowOod {FlowOod.Persistence.ModelFile.LibraryVersion}");
                if (store.TryLoad(model.Stem, seed, settings, out var reason) is { } saved)
                {
                    console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{model.Stem} seed {seed}: reusing the saved run (held-out {saved.FinalBitsPerDim:F3} bits/dim, AUROC MNIST {saved.FinalAuroc:F3})."));
                    runs.Add(saved);
                    continue;
                }

                if (reason is not null)
                {
                    console.WriteLine($"{model.Stem} seed {seed}: {reason}.");
                }

                var run = TrainOne(model, seed, seed == seeds[0], options, steps, interval, precision.Precision, train, heldOut, heldOutCount, inTest, mnist, synthetic, console, plain, files);
                store.Save(run, settings);
                runs.Add(run);
            }
        }

        var report = BiasesPage.Write(options, models, runs, budgetText, files, total);
        BiasesPage.WriteTable(console, plain, report);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {report.Files.Count} files to {options.OutputDirectory} in {total.Elapsed.TotalSeconds:F0} s."));
        return report;
    }

    private static BiasesRun TrainOne(
        BiasesModel model, long seed, bool measureLayout, BiasesOptions options, int steps, int interval, ComputePrecision precision, Tensor train, Tensor heldOut, int heldOutCount,
        FlowOod.Data.ImageDataset inTest, FlowOod.Data.ImageDataset mnist, IReadOnlyList<(string Key, FlowOod.Data.ImageDataset Set)> synthetic,
        IAnsiConsole console, bool plain, List<string> files)
    {
        using var flow = FlowCache.Build(seed, model.Build);
        var parameters = flow.parameters().Sum(p => p.numel());
        var checkpoints = new List<BiasesCheckpoint>();
        (double[] In, double[] Mnist) lastScores = ([], []);
        var trainer = new FlowTrainer(flow, new TrainingOptions
        {
            Steps = steps,
            BatchSize = options.BatchSize,
            LearningRate = 1e-3,
            Seed = seed,
            ProgressInterval = Math.Max(1, steps / 50),
            EvaluationInterval = interval,
            Precision = precision,
        });
        var clock = Stopwatch.StartNew();
        var stem = string.Create(CultureInfo.InvariantCulture, $"{model.Stem}-seed{seed}");
        var curve = new TrainingCurve(stem, Math.Min(options.BatchSize, (int)train.shape[0]), string.Create(CultureInfo.InvariantCulture,
            $"{heldOutCount} Fashion-MNIST training images {BiasesOptions.HeldOutStart}–{BiasesOptions.HeldOutStart + heldOutCount - 1}"));
        var trained = TrainingDisplay.Run(console, plain, $"training {stem}", progress => trainer.Train(train, heldOut, new SyncProgress<TrainingProgress>(p =>
        {
            progress.Report(p);
            curve.Add(p);
            if (p.EvaluationLoss is { } bitsPerDim)
            {
                // The trainer puts the flow back in training mode before the next step.
                lastScores = Scores(flow, inTest, mnist);
                checkpoints.Add(new BiasesCheckpoint(p.Step, bitsPerDim, OodMetrics.Auroc(lastScores.In, lastScores.Mnist)));
            }
        })));

        files.AddRange(curve.Write(options.OutputDirectory, stem));
        // The last checkpoint is after the last step: its scores are the final ones, in the precision the flow trained in,
        // as are the synthetic sets' (a frozen copy with the same st-network precision).
        var (finalIn, finalMnist) = lastScores;
        using var scorer = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(flow, precision), LikelihoodUnit.BitsPerDim, ownsFlow: true);
        var syntheticAurocs = synthetic.Select(s => new SetAuroc(s.Key, OodMetrics.Auroc(finalIn, CompareScorers.Score(scorer, s.Set, s.Set.Count)))).ToList();
        var layout = measureLayout
            ? LatentLayout.Measure(flow, model.Stem, [inTest, mnist], new LatentLayoutSettings { Images = options.EffectiveLayoutImages, Draws = options.LayoutDraws, Seed = seed })
            : null;
        var run = new BiasesRun(model.Stem, seed, parameters, trained.Elapsed.TotalSeconds, checkpoints, syntheticAurocs, finalIn, finalMnist, layout);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{stem}: {parameters:N0} parameters, trained {trained.Steps} steps in {trained.Elapsed.TotalSeconds:F0} s, held-out {run.FinalBitsPerDim:F3} bits/dim, "
            + $"AUROC MNIST {run.FinalAuroc:F3}; model total {clock.Elapsed.TotalSeconds:F0} s."));
        return run;
    }

    // NLL in bits/dim at bin centres of Fashion-MNIST test (in-dist.) and MNIST; the flow is left in evaluation mode.
    private static (double[] In, double[] Mnist) Scores(NormalizingFlow flow, FlowOod.Data.ImageDataset inTest, FlowOod.Data.ImageDataset mnist)
    {
        using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
        return (CompareScorers.Score(scorer, inTest, inTest.Count), CompareScorers.Score(scorer, mnist, mnist.Count));
    }
}
