using System;
using System.CommandLine;
using System.IO;
using FlowOod.Precision;

namespace FlowOod.Cli;

/// <summary>The verbs that train, score and evaluate flows: <c>demo</c>, <c>compare</c>, <c>train</c>, <c>score</c> and <c>evaluate</c>.</summary>
internal static partial class CliApp
{
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
            Description = "scorer, repeatable: nll (bits/dim), complexity (input complexity, PNG), typicality, dose (KDE of the flow's own statistics), llr (likelihood ratio, fine-tuned background), stirring (the 7 rotations and flips); with --model, a flow file takes nll or complexity and a scorer or detector file none",
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
}
