using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using FlowOod.Detection;
using FlowOod.Scoring;

namespace FlowOod.Onnx;

/// <content>The export of a feature gate: its feature flow graph plus the gate's calibration, classes and shapes in metadata.</content>
public static partial class OnnxExport
{
    /// <summary>Metadata value of <c>flowood.kind</c> for an exported gate.</summary>
    public const string GateKind = "gate";

    /// <summary>
    /// Writes a feature gate (an <c>OodGate</c> fitted on a classifier's features) as the graph of its feature flow: input
    /// the raw feature vector <c>[N, D]</c> float32, its standardiser folded in (z = float32((float64(f) − μ)/σ)), outputs
    /// <see cref="LogLikelihoodOutput"/> (log p_flow(z), nats; the gate's score is its negative) and
    /// <see cref="BitsPerDimOutput"/>. The classifier stays your ONNX model; <c>FlowOod.OnnxRuntime.OnnxGate</c> (package
    /// FlowOod.OnnxRuntime.Serving) runs both with ONNX Runtime alone and gives the gate's decisions.
    /// </summary>
    /// <remarks>
    /// <para>Call it with the gate's parts, e.g. <c>OnnxExport.WriteGate(gate.Detector, gate.InputShape, gate.ClassNames,
    /// "embedding", "gate.onnx")</c> (the export lives in the Onnx layer, which does not depend on Gating).</para>
    /// <para>metadata_props: as for a detector (<c>flowood.kind</c> = "gate", <c>flowood.score</c> = "nll_nats",
    /// <c>flowood.threshold</c>, <c>flowood.target_false_positive_rate</c>, <c>flowood.calibration_scores</c>,
    /// <c>flowood.feature_mean</c>, <c>flowood.feature_std</c>, <c>flowood.max_standardized_feature</c>), plus
    /// <c>flowood.class_names</c> (a JSON array of strings), <c>flowood.input_shape</c> (the classifier's input without
    /// N, comma-separated) and <c>flowood.feature_output</c>.</para>
    /// </remarks>
    /// <param name="detector">The gate's detector (<c>gate.Detector</c>); its scorer must be a <see cref="FeatureSpaceScorer"/>.</param>
    /// <param name="inputShape">The classifier's input shape without N (<c>gate.InputShape</c>).</param>
    /// <param name="classNames">The C ≥ 2 class names in logit order (<c>gate.ClassNames</c>).</param>
    /// <param name="featureOutput">The name of the value in the classifier's ONNX model that holds the features: a graph
    /// output or an inner value (for a gate fitted with <c>OnnxClassifier</c>, its <c>FeatureOutputName</c>; for a
    /// TorchSharp classifier exported to ONNX, the output you exported the feature layer as).</param>
    /// <param name="path">The ONNX file to write.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">The detector's scorer is not a feature-space scorer (a gate over a detector of
    /// inputs has no feature flow), or its flow cannot be exported; the message names it.</exception>
    /// <exception cref="ArgumentException">Empty feature output name, fewer than 2 class names, or a bad input shape.</exception>
    public static void WriteGate(
        OodDetector detector, IReadOnlyList<long> inputShape, IReadOnlyList<string> classNames, string featureOutput, string path, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        WriteFile(BuildGate(detector, inputShape, classNames, featureOutput, options), path);
    }

    /// <summary>The ONNX model of <see cref="WriteGate"/> as bytes.</summary>
    /// <param name="detector">The gate's detector; its scorer must be a <see cref="FeatureSpaceScorer"/>.</param>
    /// <param name="inputShape">The classifier's input shape without N.</param>
    /// <param name="classNames">The C ≥ 2 class names in logit order.</param>
    /// <param name="featureOutput">The classifier's ONNX value that holds the features.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <returns>The serialized ModelProto.</returns>
    /// <exception cref="NotSupportedException">As for <see cref="WriteGate"/>.</exception>
    /// <exception cref="ArgumentException">As for <see cref="WriteGate"/>.</exception>
    public static byte[] GateToBytes(
        OodDetector detector, IReadOnlyList<long> inputShape, IReadOnlyList<string> classNames, string featureOutput, OnnxExportOptions? options = null) =>
        BuildGate(detector, inputShape, classNames, featureOutput, options).ToArray();

    private static ProtoWriter BuildGate(
        OodDetector detector, IReadOnlyList<long> inputShape, IReadOnlyList<string> classNames, string featureOutput, OnnxExportOptions? options)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentException.ThrowIfNullOrWhiteSpace(featureOutput);
        if (detector.Scorer is not FeatureSpaceScorer)
        {
            throw new NotSupportedException(
                $"The gate's detector scores with {detector.Scorer.GetType().FullName} ({detector.Scorer.Name}); only a feature gate (a FeatureSpaceScorer on the classifier's features) exports as a gate. "
                + "Export a detector of inputs with OnnxExport.Write(detector, ...).");
        }

        if (inputShape.Count == 0 || inputShape.Any(d => d <= 0))
        {
            throw new ArgumentException($"The input shape [{string.Join(", ", inputShape)}] must have positive dimensions.", nameof(inputShape));
        }

        if (classNames.Count < 2 || classNames.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException($"Expected at least 2 non-empty class names, got {classNames.Count}.", nameof(classNames));
        }

        List<(string, string)> gate =
        [
            (MetadataPrefix + "class_names", JsonSerializer.Serialize(classNames.ToArray())),
            (MetadataPrefix + "input_shape", string.Join(",", inputShape.Select(d => d.ToString(CultureInfo.InvariantCulture)))),
            (MetadataPrefix + "feature_output", featureOutput),
        ];
        return BuildDetector(detector, GateKind, gate, options);
    }
}
