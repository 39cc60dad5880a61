using System.CommandLine;
using System.IO;

namespace FlowOod.Cli;

/// <summary>The verbs that make and recalibrate detector files: <c>fit-detector</c> and <c>calibrate</c>.</summary>
internal static partial class CliApp
{
    // --scorer for a saved flow: the kinds that need nothing but the flow.
    private static Option<string?> FlowScorerOption()
    {
        var option = new Option<string?>("--scorer") { Description = "for a flow file: nll (bits/dim; the default) or complexity (input complexity, PNG). Scorer and detector files bring their own" };
        option.AcceptOnlyFromAmong(ScorerKinds.FlowOnly);
        return option;
    }

    private static Option<string?> FolderOption(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } folder && !Directory.Exists(folder))
            {
                result.AddError($"{name} '{folder}' is not an existing folder.");
            }
        });
        return option;
    }

    private static Command FitDetectorCommand(TextWriter output, bool plain)
    {
        var d = new FitDetectorOptions { ModelPath = "" };
        var model = new Option<string>("--model") { Description = "the detector file to write (atomically)", Required = true };
        var scorer = new Option<string>("--scorer") { Description = "scorer kind: " + ScorerKinds.Description, DefaultValueFactory = _ => d.Scorer };
        scorer.AcceptOnlyFromAmong(ScorerKinds.Names);
        var flow = new Option<string>("--flow") { Description = "pixel flow: glow (2 scales × 4 steps, width 32) or realnvp (compact RealNVP)", DefaultValueFactory = _ => d.Flow };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        var data = FolderOption("--data", "a folder of 28×28 IDX images (train-* files, else t10k-*) or 28×28 greyscale PNG files: the in-distribution data; default: Fashion-MNIST train");
        var calibrationData = FolderOption("--calibration-data", "a folder of IDX images (t10k-* files, else train-*) or PNG files to calibrate on; default: the --data images after the training (and fit) images");
        var alpha = Range("--alpha", "α: the largest fraction of in-distribution inputs flagged", d.Alpha, 0, 1, exclusiveMin: true);
        var steps = Positive("--steps", "training steps of each flow", d.Steps);
        var batch = Positive("--batch-size", "images per step", d.BatchSize);
        var trainImages = Positive("--train-images", "training images (the first N of --data)", d.TrainImages);
        var fitImages = Positive("--fit-images", "held-out images, after the training ones, that typicality and the two-sided scorers fit on", d.FitImages);
        var calibrationImages = Positive("--calibration-images", "calibration images (at least ⌈1/α⌉)", d.CalibrationImages);
        var mutation = Range("--mutation-rate", "pixel replacement rate of the llr background", d.MutationRate, 0, 1);
        var ensemble = Positive("--ensemble", "flows in waic's ensemble (at least 2)", d.EnsembleSize);
        ensemble.Validators.Add(result =>
        {
            if (Parsed<int>(result) is 1)
            {
                result.AddError("--ensemble must be at least 2.");
            }
        });
        var seed = SeedOption();
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var command = new Command("fit-detector", "Trains a pixel flow, builds a scorer on it, calibrates it at --alpha on held-out in-distribution images and saves the detector (for score, calibrate, evaluate, OodGate.Create, the gate service).")
        {
            model, scorer, flow, data, calibrationData, alpha, steps, batch, trainImages, fitImages, calibrationImages, mutation, ensemble, seed, dataDir, threads,
        };
        command.SetAction(p =>
        {
            DetectorVerbs.FitDetector(
                new FitDetectorOptions
                {
                    ModelPath = p.GetValue(model)!,
                    Scorer = p.GetValue(scorer)!,
                    Flow = p.GetValue(flow)!,
                    TrainingData = p.GetValue(data),
                    CalibrationData = p.GetValue(calibrationData),
                    Alpha = p.GetValue(alpha),
                    Steps = p.GetValue(steps),
                    BatchSize = p.GetValue(batch),
                    TrainImages = p.GetValue(trainImages),
                    FitImages = p.GetValue(fitImages),
                    CalibrationImages = p.GetValue(calibrationImages),
                    MutationRate = p.GetValue(mutation),
                    EnsembleSize = p.GetValue(ensemble),
                    Seed = p.GetValue(seed),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                },
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }

    private static Command CalibrateCommand(TextWriter output, bool plain)
    {
        var model = new Option<string>("--model") { Description = "a detector (or scorer) file to calibrate", Required = true };
        var target = new Option<string?>("--out") { Description = "the detector file to write (default: replace --model, atomically)" };
        var data = FolderOption("--data", "a folder of IDX images (t10k-* files, else train-*) or 28×28 greyscale PNG files from the in-distribution source; default: Fashion-MNIST train from index 50000");
        var alpha = new Option<double?>("--alpha") { Description = "α (default: the detector's; 0.05 for a scorer file)" };
        alpha.Validators.Add(result =>
        {
            if (Parsed<double>(result) is { } x && (!double.IsFinite(x) || x <= 0 || x >= 1))
            {
                result.AddError(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"--alpha must lie in (0, 1), got {x}."));
            }
        });
        var start = new Option<int>("--start") { Description = "first image of --data used" };
        start.Validators.Add(result =>
        {
            if (Parsed<int>(result) < 0)
            {
                result.AddError("--start must not be negative.");
            }
        });
        var count = Positive("--calibration-images", "calibration images (at least ⌈1/α⌉)", 2_000);
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var command = new Command("calibrate", "Recalibrates a saved detector (or calibrates a scorer) on new in-distribution images and saves the detector.")
        {
            model, target, data, alpha, start, count, dataDir, threads,
        };
        command.SetAction(p =>
        {
            DetectorVerbs.Calibrate(
                new CalibrateOptions
                {
                    ModelPath = p.GetValue(model)!,
                    OutputPath = p.GetValue(target),
                    CalibrationData = p.GetValue(data),
                    Alpha = p.GetValue(alpha),
                    Start = p.GetValue(start),
                    CalibrationImages = p.GetValue(count),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                },
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }
}
