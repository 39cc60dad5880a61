using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Persistence;
using FlowOod.Scoring;

namespace FlowOod.Onnx;

/// <content>The export of scorers, detectors and model files: the flow graph plus the scoring rule and calibration in metadata.</content>
public static partial class OnnxExport
{
    /// <summary>Metadata value of <c>flowood.kind</c> for an exported flow.</summary>
    public const string FlowKind = "flow";

    /// <summary>Metadata value of <c>flowood.kind</c> for an exported scorer.</summary>
    public const string ScorerKind = "scorer";

    /// <summary>Metadata value of <c>flowood.kind</c> for an exported detector.</summary>
    public const string DetectorKind = "detector";

    /// <summary>
    /// Writes a scorer as an ONNX graph plus, in metadata, <c>flowood.kind</c> = "scorer", <c>flowood.scorer</c> (its
    /// name) and <c>flowood.score</c>, which says where the score is: <c>"bits_per_dim"</c> (the <see cref="BitsPerDimOutput"/>
    /// output) or <c>"nll_nats"</c> (−<see cref="LogLikelihoodOutput"/>) for a <see cref="NegativeLogLikelihoodScorer"/> or a
    /// <see cref="FeatureSpaceScorer"/>, and <c>"score"</c> (the float64 output <see cref="ScoreOutput"/>) for every other scorer.
    /// </summary>
    /// <remarks>
    /// <para>Exportable: <see cref="NegativeLogLikelihoodScorer"/>, <see cref="FeatureSpaceScorer"/> (the graph's input is
    /// then the raw feature vector <c>[N, D]</c>, its standardiser folded in; <c>flowood.feature_mean</c> and
    /// <c>flowood.feature_std</c> record it), <see cref="TypicalityScorer"/>, <see cref="LikelihoodRatioScorer"/>,
    /// <see cref="LocalLikelihoodRatioScorer"/>, <see cref="WaicScorer"/>, <see cref="StirringScorer"/>,
    /// <see cref="DoseScorer"/> (its statistics and KDE), <see cref="RotationPredictionScorer"/> (the network on the four
    /// rotations), and <see cref="TwoSidedScorer"/> and <see cref="ScoreDensityScorer"/> over exportable members — so the
    /// default <c>ImageDetectors.Fit</c> detector (DoSE and rotation prediction) exports. Flow scorers must use bin-centre
    /// noise. The flows and networks run in float32, their log-densities and losses are widened to float64 and the scorer's
    /// own arithmetic (KDEs, ratios, variances) runs in float64, as in FlowOod. A KDE over m fitted samples becomes an
    /// <c>[N, J, m]</c> float64 tensor per call. <see cref="InputComplexityScorer"/> cannot be exported (it compresses
    /// the image with PNG or Deflate, which no ONNX operator does).</para>
    /// </remarks>
    /// <param name="scorer">The scorer.</param>
    /// <param name="path">The ONNX file to write.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">The scorer (or a member of it) is of a kind that cannot be exported, uses
    /// other noise than the bin centres, or a component of its flow cannot be exported; the message names it.</exception>
    public static void Write(IOodScorer scorer, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        WriteFile(BuildScorer(scorer, options), path);
    }

    /// <summary>The ONNX model of <see cref="Write(IOodScorer, string, OnnxExportOptions?)"/> as bytes.</summary>
    /// <param name="scorer">The scorer.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <returns>The serialized ModelProto.</returns>
    /// <exception cref="NotSupportedException">As for <see cref="Write(IOodScorer, string, OnnxExportOptions?)"/>.</exception>
    public static byte[] ToBytes(IOodScorer scorer, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        return BuildScorer(scorer, options).ToArray();
    }

    /// <summary>The ONNX model of <see cref="Write(OodDetector, string, OnnxExportOptions?)"/> as bytes.</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <returns>The serialized ModelProto.</returns>
    /// <exception cref="NotSupportedException">As for <see cref="Write(OodDetector, string, OnnxExportOptions?)"/>.</exception>
    public static byte[] ToBytes(OodDetector detector, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return BuildDetector(detector, DetectorKind, [], options).ToArray();
    }

    /// <summary>
    /// Writes a detector as its scorer's flow graph plus, in metadata, the scoring rule (as for a scorer, with
    /// <c>flowood.kind</c> = "detector") and the calibration: <c>flowood.threshold</c> (flag a score strictly above it),
    /// <c>flowood.target_false_positive_rate</c> and <c>flowood.calibration_scores</c> (sorted, comma-separated, round-trip
    /// format; the p-value of a score s is (1 + #{scores ≥ s}) / (n + 1)).
    /// </summary>
    /// <param name="detector">The detector; its scorer must be exportable (see <see cref="Write(IOodScorer, string, OnnxExportOptions?)"/>),
    /// e.g. the default detector of <c>ImageDetectors.Fit</c>.</param>
    /// <param name="path">The ONNX file to write.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">The detector's scorer cannot be exported; the message names it.</exception>
    public static void Write(OodDetector detector, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        WriteFile(BuildDetector(detector, DetectorKind, [], options), path);
    }

    /// <summary>
    /// Exports the model file <paramref name="modelPath"/> (a flow, a scorer or a detector, see <see cref="ModelFile"/>)
    /// to the ONNX file <paramref name="onnxPath"/>.
    /// </summary>
    /// <param name="modelPath">A FlowOod model file.</param>
    /// <param name="onnxPath">The ONNX file to write.</param>
    /// <param name="loadOptions">How to load the model file (a catalog with your components), or null.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <returns>The kind of model exported: "flow", "scorer" or "detector".</returns>
    /// <exception cref="NotSupportedException">The file holds a model that cannot be exported; the message names it.</exception>
    public static string WriteModelFile(string modelPath, string onnxPath, ModelLoadOptions? loadOptions = null, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(onnxPath);
        var kind = ModelFile.ReadInfo(modelPath, loadOptions).Kind;
        switch (kind)
        {
            case "flow":
                using (var flow = ModelFile.LoadFlow(modelPath, loadOptions))
                {
                    flow.eval();
                    List<(string, string)> scoring = [(MetadataPrefix + "kind", FlowKind)];
                    WriteFile(Build(flow, options ?? new OnnxExportOptions(), scoring), onnxPath);
                }

                break;
            case "scorer":
                using (var scorer = ModelFile.LoadScorer(modelPath, loadOptions))
                {
                    Write(scorer, onnxPath, options);
                }

                break;
            case "detector":
                using (var detector = ModelFile.LoadDetector(modelPath, loadOptions))
                {
                    Write(detector, onnxPath, options);
                }

                break;
            default:
                throw new NotSupportedException(
                    kind == "gate"
                        ? $"The model file {modelPath} holds a gate: export it with its classifier's feature output name, with 'flowood export-onnx --model FILE --out FILE.onnx --feature-output NAME' or SavedGate.Read and OnnxExport.WriteGate."
                        : $"The model file {modelPath} holds a '{kind}', which has no ONNX export (flows, scorers, detectors and gates do).");
        }

        return kind;
    }

    // A scorer's graph with its scoring rule in metadata.
    private static ProtoWriter BuildScorer(IOodScorer scorer, OnnxExportOptions? options) => BuildScoring(scorer, ScorerKind, [], options);

    // The detector's scorer graph with its scoring rule and calibration in metadata (plus `extra` entries), as a model.
    private static ProtoWriter BuildDetector(OodDetector detector, string kind, IEnumerable<(string, string)> extra, OnnxExportOptions? options)
    {
        List<(string, string)> calibration =
        [
            (MetadataPrefix + "threshold", Format(detector.Threshold)),
            (MetadataPrefix + "target_false_positive_rate", Format(detector.TargetFalsePositiveRate)),
            (MetadataPrefix + "calibration_scores", string.Join(",", detector.CalibrationScores.Select(Format))),
            .. extra,
        ];
        return BuildScoring(detector.Scorer, kind, calibration, options);
    }

    // A negative log-likelihood or feature-space scorer: the flow graph, its score computed from log_likelihood by the
    // runtime. Any other scorer: the graph of its score (output "score").
    private static ProtoWriter BuildScoring(IOodScorer scorer, string kind, IEnumerable<(string, string)> extra, OnnxExportOptions? options)
    {
        options ??= new OnnxExportOptions();
        if (scorer is NegativeLogLikelihoodScorer or FeatureSpaceScorer)
        {
            var (flow, score, standardizer) = ScoringRule(scorer);
            List<(string, string)> rule =
            [
                (MetadataPrefix + "kind", kind), (MetadataPrefix + "score", score), (MetadataPrefix + "scorer", scorer.Name), .. FeatureMetadata(standardizer), .. extra,
            ];
            return Build(flow, options, rule, standardizer);
        }

        List<(string, string)> scoring = [(MetadataPrefix + "kind", kind), (MetadataPrefix + "score", ScoreOutput), (MetadataPrefix + "scorer", scorer.Name), .. extra];
        return BuildScore(scorer, options, scoring);
    }

    // A feature-space graph's standardiser (also folded into the graph): the runtime needs μ and σ for FeatureSpaceScorer's
    // range rule (a standardised feature beyond ±MaxStandardizedFeature scores +∞ or is refused).
    private static IEnumerable<(string, string)> FeatureMetadata(FeatureStandardizer? standardizer) => standardizer is null ? [] :
    [
        (MetadataPrefix + "feature_mean", string.Join(",", standardizer.Mean.Select(Format))),
        (MetadataPrefix + "feature_std", string.Join(",", standardizer.StandardDeviation.Select(Format))),
        (MetadataPrefix + "max_standardized_feature", Format(FeatureSpaceScorer.MaxStandardizedFeature)),
    ];

    // The flow, the score ("bits_per_dim" or "nll_nats") and, for a feature-space scorer, the standardiser its graph
    // applies to the raw features first.
    private static (NormalizingFlow Flow, string Score, FeatureStandardizer? Standardizer) ScoringRule(IOodScorer scorer)
    {
        if (scorer is FeatureSpaceScorer features)
        {
            return (features.Flow, "nll_nats", features.Standardizer);
        }

        var likelihood = (NegativeLogLikelihoodScorer)scorer;

        if (likelihood.Noise.Kind != ScoringNoiseKind.BinCentres)
        {
            throw new NotSupportedException(
                $"The scorer uses {likelihood.Noise} dequantization noise; the ONNX graph computes the bin-centre density, so its scores would differ. Rebuild the scorer with ScoringNoise.BinCentres.");
        }

        return (likelihood.Flow, likelihood.Unit == LikelihoodUnit.Nats ? "nll_nats" : BitsPerDimOutput, null);
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
