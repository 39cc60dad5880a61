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
    /// Writes a negative log-likelihood scorer as its flow's graph plus, in metadata, <c>flowood.kind</c> = "scorer" and
    /// <c>flowood.score</c>: <c>"bits_per_dim"</c> (the score is the <see cref="BitsPerDimOutput"/> output) or
    /// <c>"nll_nats"</c> (the score is −<see cref="LogLikelihoodOutput"/>).
    /// </summary>
    /// <param name="scorer">A <see cref="NegativeLogLikelihoodScorer"/> with bin-centre noise, or a <see cref="FeatureSpaceScorer"/>
    /// (then the graph's input is the raw feature vector <c>[N, D]</c>, its standardiser folded in, and the score is
    /// "nll_nats"; <c>flowood.feature_mean</c> and <c>flowood.feature_std</c> record the standardiser).</param>
    /// <param name="path">The ONNX file to write.</param>
    /// <param name="options">Graph name, description and extra metadata (null: defaults).</param>
    /// <exception cref="NotSupportedException">The scorer is of another kind or uses other noise (its scores are not the
    /// graph's outputs), or a component of its flow cannot be exported; the message names it.</exception>
    public static void Write(IOodScorer scorer, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var (flow, score, standardizer) = ScoringRule(scorer);
        List<(string, string)> scoring = [(MetadataPrefix + "kind", ScorerKind), (MetadataPrefix + "score", score), .. FeatureMetadata(standardizer)];
        WriteFile(Build(flow, options ?? new OnnxExportOptions(), scoring, standardizer), path);
    }

    /// <summary>
    /// Writes a detector as its scorer's flow graph plus, in metadata, the scoring rule (as for a scorer, with
    /// <c>flowood.kind</c> = "detector") and the calibration: <c>flowood.threshold</c> (flag a score strictly above it),
    /// <c>flowood.target_false_positive_rate</c> and <c>flowood.calibration_scores</c> (sorted, comma-separated, round-trip
    /// format; the p-value of a score s is (1 + #{scores ≥ s}) / (n + 1)).
    /// </summary>
    /// <param name="detector">The detector; its scorer must be a bin-centre <see cref="NegativeLogLikelihoodScorer"/> or a
    /// <see cref="FeatureSpaceScorer"/> (graph input: the raw features, as for a scorer).</param>
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
                throw new NotSupportedException($"The model file {modelPath} holds a '{kind}', which has no ONNX export (flows, scorers and detectors do).");
        }

        return kind;
    }

    // The detector's flow graph with its scoring rule and calibration in metadata (plus `extra` entries), as a model.
    private static ProtoWriter BuildDetector(OodDetector detector, string kind, IEnumerable<(string, string)> extra, OnnxExportOptions? options)
    {
        var (flow, score, standardizer) = ScoringRule(detector.Scorer);
        List<(string, string)> scoring =
        [
            (MetadataPrefix + "kind", kind),
            (MetadataPrefix + "score", score),
            (MetadataPrefix + "threshold", Format(detector.Threshold)),
            (MetadataPrefix + "target_false_positive_rate", Format(detector.TargetFalsePositiveRate)),
            (MetadataPrefix + "calibration_scores", string.Join(",", detector.CalibrationScores.Select(Format))),
            .. FeatureMetadata(standardizer),
            .. extra,
        ];
        return Build(flow, options ?? new OnnxExportOptions(), scoring, standardizer);
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

        if (scorer is not NegativeLogLikelihoodScorer likelihood)
        {
            throw new NotSupportedException(
                $"The scorer {scorer.GetType().FullName} ({scorer.Name}) cannot be exported to ONNX: only NegativeLogLikelihoodScorer and FeatureSpaceScorer are; export its flows with OnnxExport.Write(flow, ...).");
        }

        if (likelihood.Noise.Kind != ScoringNoiseKind.BinCentres)
        {
            throw new NotSupportedException(
                $"The scorer uses {likelihood.Noise} dequantization noise; the ONNX graph computes the bin-centre density, so its scores would differ. Rebuild the scorer with ScoringNoise.BinCentres.");
        }

        return (likelihood.Flow, likelihood.Unit == LikelihoodUnit.Nats ? "nll_nats" : BitsPerDimOutput, null);
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
