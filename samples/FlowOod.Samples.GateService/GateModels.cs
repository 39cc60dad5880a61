using System;
using System.Diagnostics;
using System.IO;
using FlowOod.Data;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Samples.FashionMnist;
using FlowOod.Scoring;
using FlowOod.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Samples.GateService;

/// <summary>
/// The service's two files: a <see cref="SmallClassifier"/> (TorchSharp's state file) and its <see cref="OodGate"/>
/// (FlowOod's gate file), trained on first start and loaded afterwards.
/// </summary>
/// <remarks>
/// The classifier learns Fashion-MNIST training images 0 … <see cref="GateServiceSettings.ClassifierImages"/> − 1. The
/// gate reads its 32-dimensional embedding layer (<see cref="FeatureLayer"/>), trains a feature-space flow on training
/// images from 50,000 on (never seen by the classifier, so their features look like those of unseen test images) and
/// calibrates the threshold at α on a held-out quarter of them. MNIST is never used to fit or tune anything.
/// </remarks>
public static class GateModels
{
    /// <summary>The classifier layer the gate reads (<c>named_modules()</c> name of SmallClassifier's embedding).</summary>
    public const string FeatureLayer = "embedding.embed";

    /// <summary>Width of the classifier's embedding layer.</summary>
    public const int EmbeddingSize = 32;

    /// <summary>Fashion-MNIST's class names, in label order.</summary>
    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private const int GateImagesStart = 50_000;

    /// <summary>Trains and saves the classifier and the gate unless both files exist (and no retraining is asked for).</summary>
    /// <param name="settings">Where the files go and how to train.</param>
    /// <param name="logger">Progress messages.</param>
    /// <returns>True when the files were (re)written.</returns>
    public static bool EnsureTrained(GateServiceSettings settings, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        if (!settings.Retrain && File.Exists(settings.ClassifierPath) && File.Exists(settings.GatePath))
        {
            Verify(settings);
            ServiceLog.UsingModels(logger, settings.ClassifierPath, settings.GatePath);
            return false;
        }

        Directory.CreateDirectory(settings.Models);
        var clock = Stopwatch.StartNew();
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train);
        var test = FlowOodDatasets.FashionMnist(DatasetSplit.Test);
        ServiceLog.TrainingClassifier(logger, settings.ClassifierImages, settings.ClassifierSteps);
        var (classifier, loss) = SmallClassifier.Train(train, settings.ClassifierImages, EmbeddingSize, settings.ClassifierSteps, batchSize: 64, learningRate: 2e-3, settings.Seed, default);
        using (classifier)
        {
            ServiceLog.ClassifierTrained(logger, loss, Accuracy(classifier, test), clock.Elapsed.TotalSeconds);
            SaveAtomically(classifier, settings.ClassifierPath);

            ServiceLog.FittingGate(logger, settings.Alpha, GateImagesStart, GateImagesStart + settings.GateImages - 1);
            using var scope = NewDisposeScope();
            var images = train.ToTensor(GateImagesStart, settings.GateImages);
            using var gate = OodGate.Fit(classifier, images, FitOptions(settings));
            gate.Save(settings.GatePath);
            ServiceLog.GateSaved(logger, settings.GatePath, gate.Threshold, clock.Elapsed.TotalSeconds);
            ExportOnnx(settings, classifier, gate);
            ServiceLog.OnnxExported(logger, settings.OnnxClassifierPath, settings.OnnxGatePath);
        }

        return true;
    }

    /// <summary>The gate's fit options for <paramref name="settings"/>.</summary>
    /// <param name="settings">α, flow steps and seed.</param>
    /// <returns>The options.</returns>
    public static OodGateOptions FitOptions(GateServiceSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new OodGateOptions
        {
            FeatureLayer = FeatureLayer,
            TargetFalsePositiveRate = settings.Alpha,
            CalibrationFraction = 0.25,
            ClassNames = ClassNames,
            Seed = settings.Seed,
            FeatureFlow = new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                Training = new TrainingOptions { Steps = settings.FlowSteps, BatchSize = 128, LearningRate = 1e-3, Seed = settings.Seed },
            },
        };
    }

    /// <summary>
    /// Loads both existing files once, before the host starts, so that a damaged or mismatched file stops the service
    /// with one message naming the file and what to do, instead of failing inside the host's start.
    /// </summary>
    /// <remarks>
    /// The service refuses to start rather than retrain on its own: retraining takes minutes, replaces a gate that may
    /// have been validated for this deployment (a new classifier needs a new gate: the gate checks the classifier's
    /// fingerprint), and would hide a storage fault. Restore the file, or start once with <c>--retrain true</c>.
    /// </remarks>
    /// <param name="settings">Where the files are.</param>
    /// <exception cref="InvalidDataException">A file cannot be loaded; the message names it.</exception>
    public static void Verify(GateServiceSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using var classifier = LoadClassifier(settings.ClassifierPath);
        try
        {
            using var gate = OodGate.Load(settings.GatePath, classifier);
            if (!File.Exists(settings.OnnxClassifierPath) || !File.Exists(settings.OnnxGatePath))
            {
                ExportOnnx(settings, (SmallClassifier)classifier, gate);
            }
        }
        catch (Exception e) when (IsLoadFailure(e))
        {
            throw new InvalidDataException(
                $"The gate file '{settings.GatePath}' cannot be loaded: {e.Message} Restore it from a backup, or start with --retrain true to train the classifier and the gate again (both files are replaced).",
                e);
        }
    }

    /// <summary>Loads the classifier saved by <see cref="EnsureTrained"/>, in evaluation mode; the caller owns it.</summary>
    /// <param name="path">The classifier's file.</param>
    /// <returns>The classifier.</returns>
    /// <exception cref="InvalidDataException">The file is missing, damaged or not this classifier's state; the message
    /// names the file.</exception>
    /// <summary>
    /// Writes the ONNX mode's files beside the models: the classifier (<see cref="ClassifierOnnx"/>, outputs logits and
    /// embedding) and the gate (<see cref="OnnxExport.WriteGate"/>: its feature flow, standardiser folded in, and its
    /// calibration), which samples/FlowOod.Samples.GateService.Onnx serves with ONNX Runtime alone.
    /// </summary>
    /// <param name="settings">Where the files go.</param>
    /// <param name="classifier">The classifier the gate was fitted on.</param>
    /// <param name="gate">The gate.</param>
    public static void ExportOnnx(GateServiceSettings settings, SmallClassifier classifier, OodGate gate)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(gate);
        ClassifierOnnx.WriteAtomically(ClassifierOnnx.Export(classifier), settings.OnnxClassifierPath);
        OnnxExport.WriteGate(gate.Detector, gate.InputShape, gate.ClassNames, ClassifierOnnx.FeatureOutput, settings.OnnxGatePath);
    }

    public static nn.Module<Tensor, Tensor> LoadClassifier(string path)
    {
        var model = new SmallClassifier(EmbeddingSize);
        try
        {
            model.load(path);
            model.eval();
            return model;
        }
        catch (Exception e) when (IsLoadFailure(e))
        {
            model.Dispose();
            throw new InvalidDataException(
                $"The classifier file '{path}' cannot be loaded ({e.GetType().Name}: {e.Message}); it is damaged or not this service's classifier. Restore it from a backup, or start with --retrain true to train the classifier and the gate again (both files are replaced).",
                e);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    // What a damaged, truncated or foreign file makes TorchSharp's state loader or OodGate.Load throw.
    private static bool IsLoadFailure(Exception e) =>
        e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or FlowOodException
            or System.Runtime.InteropServices.ExternalException or FormatException or OverflowException;

    // Writes next to the target, then renames over it: a reader never sees half a file.
    private static void SaveAtomically(nn.Module module, string path)
    {
        var temporary = path + ".tmp";
        module.save(temporary);
        File.Move(temporary, path, overwrite: true);
    }

    private static double Accuracy(SmallClassifier classifier, ImageDataset data)
    {
        using var noGrad = no_grad();
        long correct = 0;
        for (int start = 0; start < data.Count; start += 1000)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(1000, data.Count - start);
            var predicted = classifier.call(data.ToTensor(start, count)).argmax(1);
            var labels = tensor(data.Labels.Span.Slice(start, count).ToArray()).to_type(ScalarType.Int64);
            correct += predicted.eq(labels).sum().item<long>();
        }

        return (double)correct / data.Count;
    }
}
