using System;
using System.Collections.Generic;
using FlowOod.Detection;
using FlowOod.Persistence;
using static TorchSharp.torch;

namespace FlowOod.Gating;

/// <summary>
/// What a gate file (<see cref="OodGate.Save"/>) holds, read without the classifier it was fitted with: the calibrated
/// detector, the classifier's input shape and class names, and the name of the feature layer or extractor. Use it to
/// export a gate (<c>flowood export-onnx</c>, or <c>OnnxExport.WriteGate(saved.Detector, saved.InputShape,
/// saved.ClassNames, featureOutput, path)</c>) or to inspect one; to classify, load the gate with its classifier
/// (<see cref="OodGate.Load"/>), which also checks the classifier's fingerprint.
/// </summary>
/// <remarks>
/// The classifier's fingerprint is read but not checked (there is no classifier to check it against). A feature gate's
/// detector scores feature vectors the classifier computes; read this way it has no classifier, so scoring inputs with it
/// throws an <see cref="ArgumentException"/> saying so. Disposing frees the detector.
/// </remarks>
public sealed class SavedGate : IDisposable
{
    private SavedGate(OodDetector detector, IReadOnlyList<long> inputShape, IReadOnlyList<string> classNames, string? featureName)
    {
        Detector = detector;
        InputShape = inputShape;
        ClassNames = classNames;
        FeatureName = featureName;
    }

    /// <summary>The calibrated detector (threshold, calibration scores, α, the scorer with its flow); owned by this object.</summary>
    public OodDetector Detector { get; }

    /// <summary>The classifier's input shape without the batch axis.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>The class names in logit order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The classifier layer or feature extractor the gate reads its features from, or null for a gate over a detector of the classifier's inputs.</summary>
    public string? FeatureName { get; }

    /// <summary>Whether the gate scores the classifier's features (a feature-space scorer) rather than its inputs.</summary>
    public bool IsFeatureGate => FeatureName is not null;

    /// <summary>Reads the gate file <paramref name="path"/> without its classifier.</summary>
    /// <param name="path">A gate file written by <see cref="OodGate.Save"/>.</param>
    /// <param name="options">Model-file options (a catalog with your components), or null.</param>
    /// <returns>The gate's parts; dispose them.</returns>
    /// <exception cref="ModelFormatException">The file is not a valid gate file.</exception>
    public static SavedGate Read(string path, ModelLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var stored = GateFile.Load(path, null, new GateLoadOptions { Model = options }, NoClassifier);
        return new SavedGate(stored.Detector, Array.AsReadOnly(stored.InputShape), Array.AsReadOnly(stored.ClassNames), stored.Source == FeatureSource.Input ? null : stored.FeatureName);
    }

    /// <summary>Frees the detector; harmless when called again.</summary>
    public void Dispose() => Detector.Dispose();

    private static Tensor NoClassifier(Tensor input) => throw new InvalidOperationException(
        "This gate was read without its classifier (SavedGate), so it cannot compute features: load it with OodGate.Load and its classifier to classify.");
}
