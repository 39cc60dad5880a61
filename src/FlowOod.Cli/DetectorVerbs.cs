using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// <c>flowood fit-detector</c> (train a flow, build a scorer by name, calibrate it at α on held-out in-distribution
/// images, save the detector) and <c>flowood calibrate</c> (recalibrate a saved detector or scorer on new
/// in-distribution images).
/// </summary>
internal static class DetectorVerbs
{
    /// <summary>Fashion-MNIST training images from this index on are never trained on (the repository's convention).</summary>
    public const int HeldOutStart = 50_000;

    public static void FitDetector(FitDetectorOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var images = options.TrainingData is { } folder ? ImageFolders.Load(folder, DatasetSplit.Train, "--data") : data.FashionTrain;
        if (images.Height != 28 || images.Width != 28)
        {
            throw new ArgumentException($"--data '{images.Name}' holds {images.Height}×{images.Width} images; the built-in flows take 28×28.");
        }

        var needsFit = ScorerKinds.NeedsFitData(options.Scorer);
        var fitCount = needsFit ? options.FitImages : 0;
        var calibration = options.CalibrationData is { } calibrationFolder ? ImageFolders.Load(calibrationFolder, DatasetSplit.Test, "--calibration-data") : images;
        var calibrationStart = options.CalibrationData is null ? options.TrainImages + fitCount : 0;
        var needed = options.TrainImages + fitCount + (options.CalibrationData is null ? options.CalibrationImages : 0);
        if (needed > images.Count)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--train-images {options.TrainImages}{(needsFit ? $" + --fit-images {fitCount}" : "")}{(options.CalibrationData is null ? $" + --calibration-images {options.CalibrationImages}" : "")} = {needed} images, but '{images.Name}' has {images.Count}; lower them or pass --calibration-data."));
        }

        if (options.CalibrationImages > calibration.Count - calibrationStart)
        {
            throw new ArgumentException($"--calibration-images {options.CalibrationImages}: '{calibration.Name}' has only {calibration.Count - calibrationStart} images to calibrate on.");
        }

        var required = OodDetector.RequiredCalibrationCount(options.Alpha);
        if (options.CalibrationImages < required)
        {
            throw new ArgumentException($"--calibration-images {options.CalibrationImages} is too few for --alpha {options.Alpha.ToString(CultureInfo.InvariantCulture)}: at least {required} (⌈1/α⌉) are needed.");
        }

        using var training = images.ToTensor(0, options.TrainImages);
        using var fit = needsFit ? images.ToTensor(options.TrainImages, fitCount) : null;
        var trainingOptions = new TrainingOptions { Steps = options.Steps, BatchSize = options.BatchSize, LearningRate = 1e-3, Seed = options.Seed, ProgressInterval = 25 };
        var flow = TrainFlow(options.Flow, options.Seed, training, trainingOptions, $"training {options.Flow}", console, plain);
        var inputs = new ScorerInputs(
            training,
            fit,
            trainingOptions with { Seed = options.Seed + 1000 },
            options.MutationRate,
            options.EnsembleSize,
            member => TrainFlow(options.Flow, options.Seed + member, training, trainingOptions with { Seed = options.Seed + member }, $"training ensemble member {member + 1}", console, plain));
        using var scorer = ScorerKinds.Create(options.Scorer, flow, inputs, console, plain);
        var scores = ScoringDisplay.Score(console, plain, $"calibrating {scorer.Name}", scorer, calibration, calibrationStart, options.CalibrationImages);
        using var detector = new OodDetector(scorer, options.Alpha, scores);
        var metadata = new Dictionary<string, string>
        {
            ["trainedOn"] = $"{images.Name} 0..{options.TrainImages - 1}",
            ["flow"] = options.Flow,
            ["scorer"] = options.Scorer,
            ["calibratedOn"] = $"{calibration.Name} {calibrationStart}..{calibrationStart + options.CalibrationImages - 1}",
        };
        Save(detector, options.ModelPath, metadata, console);
    }

    public static void Calibrate(CalibrateOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var info = ModelFile.ReadInfo(options.ModelPath);
        var calibration = options.CalibrationData is { } folder ? ImageFolders.Load(folder, DatasetSplit.Test, "--data") : data.FashionTrain;
        var start = options.CalibrationData is null && options.Start == 0 ? HeldOutStart : options.Start;
        if (start + options.CalibrationImages > calibration.Count)
        {
            throw new ArgumentException($"--calibration-images {options.CalibrationImages} from --start {start}: '{calibration.Name}' has {calibration.Count} images.");
        }

        IOodScorer scorer;
        double alpha;
        OodDetector? old = null;
        switch (info.Kind)
        {
            case "detector":
                old = ModelFile.LoadDetector(options.ModelPath);
                scorer = old.Scorer;
                alpha = options.Alpha ?? old.TargetFalsePositiveRate;
                break;
            case "scorer":
                scorer = ModelFile.LoadScorer(options.ModelPath);
                alpha = options.Alpha ?? 0.05;
                break;
            default:
                throw new ArgumentException($"--model '{options.ModelPath}' holds a {info.Kind}; calibrate takes a detector or a scorer (for a flow use fit-detector).");
        }

        try
        {
            var required = OodDetector.RequiredCalibrationCount(alpha);
            if (options.CalibrationImages < required)
            {
                throw new ArgumentException($"--calibration-images {options.CalibrationImages} is too few for α = {alpha.ToString(CultureInfo.InvariantCulture)}: at least {required} (⌈1/α⌉) are needed.");
            }

            var scores = ScoringDisplay.Score(console, plain, $"calibrating {scorer.Name}", scorer, calibration, start, options.CalibrationImages);
            using var detector = new OodDetector(scorer, alpha, scores);
            if (old is not null)
            {
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Threshold {old.Threshold:F4} (α = {old.TargetFalsePositiveRate}, {old.CalibrationScores.Count} scores) → {detector.Threshold:F4} (α = {alpha}, {scores.Length} scores)."));
            }

            var metadata = info.Metadata.ToDictionary(p => p.Key, p => p.Value);
            metadata["calibratedOn"] = $"{calibration.Name} {start}..{start + options.CalibrationImages - 1}";
            foreach (var (key, value) in options.Metadata ?? new Dictionary<string, string>())
            {
                metadata[key] = value;
            }

            Save(detector, options.OutputPath ?? options.ModelPath, metadata, console);
        }
        finally
        {
            if (old is not null)
            {
                old.Dispose();
            }
            else
            {
                scorer.Dispose();
            }
        }
    }

    /// <summary>Trains a glow or realnvp pixel flow, as <c>flowood evaluate</c> does; the caller owns it.</summary>
    internal static NormalizingFlow TrainFlow(string kind, long seed, Tensor images, TrainingOptions training, string what, IAnsiConsole console, bool plain)
    {
        var flow = FlowCache.Build(seed, () => kind == "glow"
            ? Glow.Create([1, 28, 28], new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 })
            : RealNvp.Create([1, 28, 28], RealNvpOptions.Compact));
        try
        {
            var trainer = new FlowTrainer(flow, training);
            var result = TrainingDisplay.Run(console, plain, what, progress => trainer.Train(images, progress: progress));
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Trained {kind}: {result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s, final loss {result.FinalLoss:F3} bits/dim."));
            return flow;
        }
        catch
        {
            flow.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads any model file for scoring: a flow (scored by <paramref name="scorerKind"/>, nll by default, among the
    /// kinds that need nothing else), a scorer, or a detector (whose scorer scores). Dispose the returned owner.
    /// </summary>
    internal static LoadedModel Load(string path, string? scorerKind, ModelLoadOptions? loadOptions = null)
    {
        var info = ModelFile.ReadInfo(path);
        if (info.Kind != "flow" && scorerKind is not null)
        {
            throw new ArgumentException($"--scorer {scorerKind} applies to a flow file; '{path}' holds a {info.Kind}, which brings its own scorer.");
        }

        switch (info.Kind)
        {
            case "flow":
                {
                    var kind = scorerKind ?? "nll";
                    ScorerKinds.RequireFlowOnly(kind);

                    var flow = ModelFile.LoadFlow(path, loadOptions);
                    IOodScorer scorer;
                    try
                    {
                        scorer = ScorerKinds.CreateOnFlow(kind, flow);
                    }
                    catch
                    {
                        flow.Dispose();
                        throw;
                    }

                    return new LoadedModel(info, scorer, null, scorer);
                }

            case "scorer":
                {
                    var scorer = ModelFile.LoadScorer(path, loadOptions);
                    return new LoadedModel(info, scorer, null, scorer);
                }

            case "detector":
                {
                    var detector = ModelFile.LoadDetector(path, loadOptions);
                    return new LoadedModel(info, detector.Scorer, detector, detector);
                }

            default:
                throw new ArgumentException($"--model '{path}' holds a {info.Kind}; score and evaluate take a flow, a scorer or a detector.");
        }
    }

    private static void Save(OodDetector detector, string path, Dictionary<string, string> metadata, IAnsiConsole console)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        ModelFile.Save(detector, path, metadata);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Saved the detector ({detector.Scorer.Name}, α = {detector.TargetFalsePositiveRate}, threshold {detector.Threshold:F4} on {detector.CalibrationScores.Count} scores) to {path} ({new FileInfo(path).Length:N0} bytes)."));
    }
}

/// <summary>A model file loaded for scoring: its header, the scorer, the detector if it was one, and what to dispose.</summary>
internal sealed record LoadedModel(ModelFileInfo Info, IOodScorer Scorer, OodDetector? Detector, IDisposable Owner) : IDisposable
{
    /// <inheritdoc/>
    public void Dispose() => Owner.Dispose();
}
