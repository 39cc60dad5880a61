using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;

namespace FlowOod.Cli;

/// <summary>The experiment verbs (<c>baseline</c>, <c>latents</c>, <c>couplings</c>, <c>biases</c>, <c>negative</c>, <c>scorers</c>, <c>llr-select</c>, <c>reproduce</c>) and the switches they share.</summary>
internal static partial class CliApp
{
    private static Option<Budget> BudgetOption(string quick, string full) =>
        new("--budget") { Description = $"quick ({quick}; default) or full ({full})", DefaultValueFactory = _ => Budget.Quick };

    private static Option<string> OutOption(string what) =>
        new("--out") { Description = $"folder for {what}", Required = true };

    private static string CommandLineOf(ParseResult p) =>
        "flowood " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ', StringComparison.Ordinal) ? $"\"{t.Value}\"" : t.Value));

    /// <summary>
    /// The switches every experiment verb shares (--budget, --out, --seed, --steps, --train-images, --eval-limit,
    /// --batch-size, --data-dir, --threads), made once per verb with its own descriptions, and their binding to the
    /// verb's <see cref="ExperimentOptions"/>.
    /// </summary>
    private sealed class ExperimentSwitches
    {
        private readonly Option<Budget> budget;
        private readonly Option<string> outDir;
        private readonly Option<long> seed = SeedOption();
        private readonly Option<int?> steps;
        private readonly Option<int?> trainImages;
        private readonly Option<int?>? evaluationLimit;
        private readonly Option<int> batchSize = Positive("--batch-size", "images per step", 64);
        private readonly Option<string?> dataDir = DataDirOption();
        private readonly Option<int> threads = ThreadsOption();

        public ExperimentSwitches(string quick, string full, string outputs, string? evaluationLimit = "images scored per set (overrides the budget)",
            string steps = "training steps per model (overrides the budget)", string trainImages = "Fashion-MNIST training images (overrides the budget)")
        {
            budget = new Option<Budget>("--budget") { Description = $"quick ({quick}; default) or full ({full})", DefaultValueFactory = _ => Budget.Quick };
            outDir = new Option<string>("--out") { Description = $"folder for {outputs}", Required = true };
            this.steps = OptionalPositive("--steps", steps);
            this.trainImages = OptionalPositive("--train-images", trainImages);
            this.evaluationLimit = evaluationLimit is null ? null : OptionalPositive("--eval-limit", evaluationLimit);
        }

        /// <summary>A command with the shared switches first, then <paramref name="own"/>.</summary>
        public Command Command(string name, string description, params Option[] own)
        {
            var command = new Command(name, description);
            Option?[] shared = [budget, outDir, seed, steps, trainImages, evaluationLimit, batchSize];
            foreach (var option in shared.Concat(own).Append(dataDir).Append(threads).OfType<Option>())
            {
                command.Options.Add(option);
            }

            return command;
        }

        /// <summary><paramref name="options"/> with the shared switches' values and the command line.</summary>
        public T Bind<T>(ParseResult p, T options)
            where T : ExperimentOptions =>
            (T)options.WithCommon(
                p.GetValue(budget), p.GetValue(outDir)!, p.GetValue(seed), p.GetValue(steps), p.GetValue(trainImages),
                evaluationLimit is null ? null : p.GetValue(evaluationLimit), p.GetValue(batchSize), p.GetValue(dataDir), p.GetValue(threads), CommandLineOf(p));

        public string Out(ParseResult p) => p.GetValue(outDir)!;
    }

    private static Command BaselineCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "compact RealNVP 150 steps and a small Glow 600 steps, 64 images per step, 20000 training images, 1000 images per set: minutes on 2 cores",
            "RealNVP width 64 × 6 blocks and the compact Glow preset, 3000 steps each, all 60000 training images, 10000 per set; time not measured",
            "the plots (PNG and SVG) and baseline.md");
        var ood = OodOption();
        var command = common.Command("baseline", "Experiment 1 (paper Fig. 1): RealNVP and Glow on Fashion-MNIST; bits/dim histograms, ROC curves, sample grids at T = 1.0 and 0.7; writes baseline.md.", ood);
        command.SetAction(p =>
        {
            BaselineExperiment.Run(common.Bind(p, new BaselineOptions { OutputDirectory = common.Out(p), OodSets = p.GetValue(ood)! }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command LatentsCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "the baseline's compact RealNVP 60 steps and small Glow 300 steps, 64 images per step, 20000 training images: minutes on 2 cores",
            "the baseline's full models, 3000 steps each, all 60000 training images; time not measured",
            "the latent grids (PNG and SVG) and latents.md",
            evaluationLimit: null);
        var draws = Positive("--draws", "dequantization draws averaged (the paper: 40)", 40);
        var command = common.Command("latents", "Experiment 2 (paper Sec. 5): Glow and RealNVP on Fashion-MNIST; latents of a Fashion-MNIST and an MNIST image at pixel positions, one draw and the mean of 40, RealNVP also with BatchNorm batch statistics; writes latents.md.", draws);
        command.SetAction(p =>
        {
            LatentsExperiment.Run(common.Bind(p, new LatentsOptions { OutputDirectory = common.Out(p), Draws = p.GetValue(draws) }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command CouplingsCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "3-layer horizontal-mask RealNVP with a width 32 × 2 blocks st-network, 300 steps, 20000 training images, co-adaptation on 256 images per set",
            "the paper's width 64 × 8 blocks, 3000 steps, 60000 training images, 2000 images per set; time not measured",
            "the coupling grids, the co-adaptation bar chart (PNG and SVG) and couplings.md",
            evaluationLimit: "images per set for the co-adaptation number (overrides the budget)",
            steps: "training steps (overrides the budget)");
        var command = common.Command("couplings", "Experiment 3 (paper Sec. 6): s, t and output of every coupling for a Fashion-MNIST and an MNIST image, and the co-adaptation R² per layer of the 3-layer horizontal-mask RealNVP; writes couplings.md.");
        command.SetAction(p =>
        {
            CouplingsExperiment.Run(common.Bind(p, new CouplingsOptions { OutputDirectory = common.Out(p) }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command BiasesCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "8-coupling single-scale RealNVPs: checkerboard, cycle-mask, horizontal with a width 16 × 1 block ResNet st-network, and checkerboard with the auto-encoder l-bottleneck st-network for l = 10, 20, 50; 60 steps × 64 images each, 20000 training images, 200 images per evaluation set: minutes on 2 cores",
            "the paper's width 64 × 8 blocks st-network, l = 10, 20, 50, 100, 3000 steps, 50000 training images, 2000 images per set; time not measured",
            "the AUROC-vs-bits/dim plot, the matched-AUROC bar chart (PNG and SVG) and biases.md",
            evaluationLimit: "images per evaluation set: held-out Fashion-MNIST, Fashion-MNIST test, MNIST, each synthetic set (overrides the budget)",
            steps: "training steps of every model (overrides the budget)",
            trainImages: "Fashion-MNIST training images, at most 50000: held-out images come from index 50000 on (overrides the budget)");
        var latentSizes = new Option<string?>("--latent-sizes") { Description = "l of the bottleneck sweep, comma-separated distinct positive integers (default: quick 10,20,50; full 10,20,50,100)" };
        latentSizes.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && BiasesExperiment.CheckLatentSizes(result.Tokens[^1].Value, out _) is { } problem)
            {
                result.AddError(problem);
            }
        });
        var seeds = OptionalPositive("--seeds", "seeds per model: --seed, --seed + 1, … (default: quick 1; standard and full 3)");
        var command = common.Command("biases", "Experiment 4 (paper Sec. 7): checkerboard vs cycle-mask vs horizontal masks, and the auto-encoder st-network without and with an l-bottleneck, at equal budget and at matched held-out bits/dim, over seeds with bootstrap intervals; finished models are saved in OUT/biases-runs/ and reused when the run is repeated; writes biases.md.", latentSizes, seeds);
        command.SetAction(p =>
        {
            IReadOnlyList<int>? sizes = null;
            if (p.GetValue(latentSizes) is { } text)
            {
                BiasesExperiment.CheckLatentSizes(text, out var parsed);
                sizes = parsed;
            }

            BiasesExperiment.Run(common.Bind(p, new BiasesOptions { OutputDirectory = common.Out(p), LatentSizes = sizes, Seeds = p.GetValue(seeds) }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command NegativeCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "the baseline's small Glow, 400 steps per model, 64 images per step, 20000 training images, 2000 images per set: a few minutes on 2 cores",
            "the compact Glow preset, 3000 steps, all 60000 training images, 5000 held-out MNIST digits and 10000 images per other set; time not measured",
            "the histograms, ROC curves (PNG and SVG) and negative.md",
            evaluationLimit: "images scored per set, at most 5000 of held-out MNIST (overrides the budget)",
            steps: "training steps of each model (overrides the budget)");
        var bound = Range("--bound", "a negative counts only while its loss is below this many bits/dim (default: the paper's 30000 nats per 28×28 image)",
            FlowOod.Training.NegativeTrainingOptions.PaperBoundBitsPerDim, 0, 1e6, exclusiveMin: true);
        var command = common.Command("negative", "Experiment 5 (paper App. B): maximum likelihood vs negative training with MNIST digits 0-4999 as negatives; AUROC on held-out MNIST digits and synthetic sets; writes negative.md.", bound);
        command.SetAction(p =>
        {
            NegativeExperiment.Run(common.Bind(p, new NegativeOptions { OutputDirectory = common.Out(p), BoundBitsPerDim = p.GetValue(bound) }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command ScorersCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "the baseline's compact RealNVP 150 steps and small Glow 600 steps, WAIC over 3 Glows, 1000 images per set",
            "the baseline's full models, 3000 steps, WAIC over 5 flows each, 10000 images per set; time not measured",
            "the ROC plots, the feature-space histogram (PNG and SVG) and scorers.md",
            steps: "training steps per flow (overrides the budget)",
            trainImages: "Fashion-MNIST training images (overrides the budget; at most 50000)");
        var ensemble = OptionalPositive("--ensemble", "flows per WAIC ensemble, for every model (1: no WAIC)");
        var background = new Option<string>("--background") { Description = "llr background: fine-tune (a copy of the flow fine-tuned on perturbed images) or scratch (a fresh flow, as Ren et al.); default: the setting llr-select chose", DefaultValueFactory = _ => LikelihoodRatioSetting.Default.FromScratch ? "scratch" : "fine-tune" };
        background.AcceptOnlyFromAmong("fine-tune", "scratch");
        var mutation = Range("--mutation-rate", "μ of the llr background (default: the setting llr-select chose)", LikelihoodRatioSetting.Default.MutationRate, 0, 1);
        var oneSided = new Option<bool>("--one-sided") { Description = "score the likelihood ratio one-sided, as Ren et al. (default: two-sided, the setting llr-select chose)" };
        var classifierSteps = OptionalPositive("--classifier-steps", "training steps of the small CNN of the feature-space flow (overrides the budget)");
        var rotationSteps = OptionalPositive("--rotation-steps", "Adam steps of the rotation-prediction network of the recommended score (default the library's, 1500)");
        var ood = OodOption();
        ood.DefaultValueFactory = _ => ScorersOptions.ReportSets;
        var command = common.Command("scorers", "Experiments 6 and 7: NLL, likelihood ratio, input complexity, typicality, DoSE, the recommended score (ImageDetectors' density of DoSE and rotation prediction) and WAIC on each pixel flow, and the feature-space flow; AUROC on MNIST, synthetic sets and --ood folders; writes scorers.md.",
            ensemble, background, mutation, oneSided, classifierSteps, rotationSteps, ood);
        command.SetAction(p =>
        {
            ScorersExperiment.Run(
                common.Bind(p, new ScorersOptions
                {
                    OutputDirectory = common.Out(p),
                    Ensemble = p.GetValue(ensemble),
                    Background = LikelihoodRatioSetting.Default with { FromScratch = p.GetValue(background) == "scratch", MutationRate = p.GetValue(mutation), TwoSided = !p.GetValue(oneSided) },
                    ClassifierSteps = p.GetValue(classifierSteps),
                    RotationSteps = p.GetValue(rotationSteps),
                    OodSets = p.GetValue(ood)!,
                }),
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }

    private static Command GeneraliseCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "the baseline's small Glow 600 steps and a local flow 600 steps per seed, 1000 images per set",
            "the baseline's full models, 3000 steps, local flow 3000 steps, 2000 images per set; time not measured",
            "generalise.md",
            steps: "training steps of the full flow (overrides the budget)",
            trainImages: "Fashion-MNIST training images (overrides the budget; at most 50000)");
        var seeds = OptionalPositive("--seeds", "seeds of the report (default 3; the selection uses the first)");
        var localSteps = OptionalPositive("--local-steps", "training steps of the local flow (overrides the budget)");
        var model = new Option<string>("--model") { Description = "the full flow: glow (default), realnvp, or autoregressive (the local model's family with a wide context)", DefaultValueFactory = _ => "glow" };
        model.AcceptOnlyFromAmong("glow", "realnvp", "autoregressive");
        var local = new Option<string>("--local") { Description = "the local model: autoregressive (default; one masked 7×7 convolution) or flow (4 checkerboard couplings on 3×3 windows)", DefaultValueFactory = _ => "autoregressive" };
        local.AcceptOnlyFromAmong("autoregressive", "flow");
        var candidates = new Option<string[]>("--candidates") { Description = "candidate keys to run (NLL, the cost reference, always runs); default every candidate", AllowMultipleArgumentsPerToken = true };
        candidates.AcceptOnlyFromAmong([.. Candidates.All.Select(c => c.Key)]);
        var rotationSteps = OptionalPositive("--rotation-steps", "Adam steps of the rotation-prediction network (default the library's, 1500)");
        var ood = OodOption();
        ood.DefaultValueFactory = _ => GeneraliseOptions.ReportSets;
        var command = common.Command("generalise", "Which OOD scores generalise: every candidate score chosen between on in-distribution-derived validation sets only, then reported on MNIST, synthetic shifts and --ood folders over several seeds with bootstrap intervals; writes generalise.md.",
            seeds, localSteps, model, local, candidates, rotationSteps, ood);
        command.SetAction(p =>
        {
            GeneraliseExperiment.Run(
                common.Bind(p, new GeneraliseOptions
                {
                    OutputDirectory = common.Out(p),
                    Seeds = p.GetValue(seeds) ?? 3,
                    LocalSteps = p.GetValue(localSteps),
                    Model = p.GetValue(model)!,
                    Local = p.GetValue(local)!,
                    Candidates = p.GetValue(candidates) is { Length: > 0 } keys ? keys : null,
                    RotationSteps = p.GetValue(rotationSteps),
                    OodSets = p.GetValue(ood)!,
                }),
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }

    private static Command LikelihoodRatioSelectCommand(TextWriter output, bool plain)
    {
        var common = new ExperimentSwitches(
            "the baseline's small Glow, 600 steps, and each background as many",
            "the baseline's full models, 3000 steps; time not measured",
            "llr-select.md",
            evaluationLimit: null,
            steps: "training steps of the flow and of each background (overrides the budget)",
            trainImages: "Fashion-MNIST training images (overrides the budget; at most 50000)");
        var flow = new Option<string>("--flow") { Description = "the baseline model whose background is chosen: glow (default) or realnvp", DefaultValueFactory = _ => "glow" };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        var command = common.Command("llr-select", "Chooses the likelihood ratio's background (fine-tuned or from scratch, μ, one- or two-sided) on validation sets only: vertically flipped and blurred held-out Fashion-MNIST training images.", flow);
        command.SetAction(p =>
        {
            LikelihoodRatioSelection.Run(common.Bind(p, new LikelihoodRatioSelectionOptions { OutputDirectory = common.Out(p), Flow = p.GetValue(flow)! }), Terminal.Create(output, plain), plain);
            return Success;
        });
        return command;
    }

    private static Command ReproduceCommand(TextWriter output, bool plain)
    {
        var budget = BudgetOption("every experiment at its quick budget, the baseline's flows shared: 19.5 min measured on 2 cores", "every experiment at its full budget; time not measured");
        var outDir = OutOption("every plot and experiment fragment");
        var page = new Option<string?>("--page") { Description = "the results page to write (default: results.md in --out); its links are relative to its folder" };
        var seed = SeedOption();
        var skipSelection = new Option<bool>("--no-selection") { Description = "skip llr-select (six background trainings, about 4 min at the quick budget) and use the scorers' default background" };
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var command = new Command("reproduce", "Runs every experiment (baseline, latents, couplings, the likelihood ratio's background choice, scorers and the feature-space flow) and writes the results page with every plot.")
        {
            budget, outDir, page, seed, skipSelection, dataDir, threads,
        };
        command.SetAction(p =>
        {
            ReproduceExperiment.Run(
                new ReproduceOptions
                {
                    Budget = p.GetValue(budget),
                    OutputDirectory = p.GetValue(outDir)!,
                    PagePath = p.GetValue(page),
                    Seed = p.GetValue(seed),
                    SelectBackground = !p.GetValue(skipSelection),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                    CommandLine = CommandLineOf(p),
                },
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }
}
