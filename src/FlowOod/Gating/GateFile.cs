using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Detection;
using FlowOod.Persistence;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Gating;

/// <summary>
/// A gate ↔ a model file of kind <c>"gate"</c> (docs/model-format.md). The detector is stored as in a detector file
/// (scorer, α, threshold, calibration scores); around it, where the detector's input comes from, the input shape, the
/// class names, the chunk size and the classifier's fingerprint.
/// </summary>
internal static class GateFile
{
    private const string Where = "$.content";
    private const int MaxClasses = 1 << 16;
    private const int MaxParameters = 1 << 20;

    public static void Save(OodGate gate, string path, IReadOnlyDictionary<string, string>? metadata)
    {
        var detector = gate.Detector;
        var writer = new ModelFileWriter();
        writer.AddDoubles("detector.calibration", detector.CalibrationScores);
        var features = new JsonObject { ["source"] = SourceName(gate.Source) };
        if (gate.Source != FeatureSource.Input)
        {
            features["name"] = gate.FeatureLayer ?? gate.FeatureExtractorName;
            features["dimension"] = gate.FeatureDimension;
        }

        var fingerprint = gate.ClassifierFingerprint;
        var classifier = new JsonObject
        {
            ["parameters"] = new JsonArray(fingerprint.Parameters.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            ["sha256"] = fingerprint.Sha256,
        };
        if (fingerprint.TensorHashes is { } hashes)
        {
            classifier["tensorSha256"] = new JsonArray(hashes.Select(h => (JsonNode?)JsonValue.Create(h)).ToArray());
        }

        var content = new JsonObject
        {
            ["detector"] = new JsonObject
            {
                ["scorer"] = ScorerCodec.Encode(detector.Scorer, writer),
                ["targetFalsePositiveRate"] = detector.TargetFalsePositiveRate,
                ["threshold"] = detector.Threshold,
                ["calibrationScores"] = "detector.calibration",
            },
            ["features"] = features,
            ["inputShape"] = Json.ToArray(gate.InputShape),
            ["classNames"] = new JsonArray(gate.ClassNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
            ["chunkSize"] = gate.ChunkSize,
            ["classifier"] = classifier,
        };
        writer.Write(path, OodGate.FileKind, content, metadata);
    }

    /// <summary>
    /// Reads a gate file for the classifier whose fingerprint is <paramref name="actual"/> (null: without a classifier, no
    /// fingerprint check, and <paramref name="layerFeatures"/> also stands in for an unregistered feature extractor); the
    /// detector returned is the caller's.
    /// </summary>
    public static Stored Load(string path, ClassifierFingerprint? actual, GateLoadOptions options, Func<Tensor, Tensor> layerFeatures)
    {
        var model = options.Model ?? new ModelLoadOptions();
        if (options.Device is not null)
        {
            model = model with { Device = options.Device };
        }

        return ModelFile.Load(path, OodGate.FileKind, model, (reader, content, o) =>
        {
            // The fingerprint first: a gate for another classifier is refused before anything is allocated.
            var stored = ReadFingerprint(path, Json.Object(content, "classifier", Where), $"{Where}.classifier");
            if (actual is not null && stored.DescribeDifference(actual) is { } difference)
            {
                throw new GateMismatchException(
                    $"The gate file '{path}' was fitted with another classifier: {difference}. A gate's calibration holds only for the exact classifier it was "
                    + "fitted with; load the matching classifier or fit a new gate.");
            }

            var features = Json.Object(content, "features", Where);
            var source = ParseSource(path, Json.String(features, "source", $"{Where}.features", 16));
            string? name = null;
            var dimension = 0;
            if (source != FeatureSource.Input)
            {
                name = Json.String(features, "name", $"{Where}.features", 256);
                dimension = Json.Int(features, "dimension", $"{Where}.features", 2, Components.ComponentLimits.MaxCount);
            }

            // The input shape decides what the gate allocates for the classifier's probe at load and for every chunk: bounded
            // before anything is.
            var inputShape = Json.LongArray(content, "inputShape", Where, 8, 1, int.MaxValue);
            var chunkSize = Json.Int(content, "chunkSize", Where, 1, OodGate.MaxChunkSize);
            if (GateChecks.InputSizeProblem(inputShape, chunkSize) is { } problem)
            {
                throw ModelContainer.Error(path, $"{Where}.inputShape {Shapes.Format(inputShape)} {problem}");
            }

            var classNames = ReadStrings(path, Json.Array(content, "classNames", Where, MaxClasses), $"{Where}.classNames", 256);
            if (classNames.Length < 2)
            {
                throw ModelContainer.Error(path, $"{Where}.classNames holds {classNames.Length} names; a classifier has at least 2 classes");
            }

            var scorerOptions = ScorerOptions(source, name, o, layerFeatures, withoutClassifier: actual is null);
            var detector = Json.Object(content, "detector", Where);
            var calibration = reader.ReadDoubles(Json.String(detector, "calibrationScores", $"{Where}.detector", 64));
            var scorer = ScorerCodec.Decode(reader, Json.Object(detector, "scorer", $"{Where}.detector"), $"{Where}.detector.scorer", scorerOptions);
            if (source != FeatureSource.Input && scorer is not FeatureSpaceScorer { } featureScorer)
            {
                throw ModelContainer.Error(path, $"a gate on {SourceName(source)} features needs a FeatureSpace scorer, the file holds {scorer.Name}");
            }

            if (scorer is FeatureSpaceScorer fs && source != FeatureSource.Input && fs.FeatureDimension != dimension)
            {
                throw ModelContainer.Error(path, $"its scorer takes {fs.FeatureDimension} features, its features section says {dimension}");
            }

            var storedRate = Json.Double(detector, "targetFalsePositiveRate", $"{Where}.detector", 0, 1);
            var storedThreshold = Json.Double(detector, "threshold", $"{Where}.detector");
            using (var check = new OodDetector(scorer, storedRate, calibration))
            {
                if (!check.Threshold.Equals(storedThreshold))
                {
                    throw ModelContainer.Error(path, $"its stored threshold {storedThreshold:R} differs from the {check.Threshold:R} its calibration scores give");
                }
            }

            var rate = options.TargetFalsePositiveRate ?? storedRate;
            if (rate < 1.0 / calibration.Length)
            {
                throw new ArgumentException(
                    $"GateLoadOptions.TargetFalsePositiveRate = {rate} needs at least {OodDetector.RequiredCalibrationCount(rate)} calibration scores "
                    + $"(α ≥ 1/n); the gate file holds {calibration.Length}.",
                    nameof(options));
            }

            return new Stored(
                new OodDetector(scorer, rate, calibration, ownsScorer: true), source, name, dimension, inputShape, classNames, chunkSize);
        });
    }

    private static ModelLoadOptions ScorerOptions(FeatureSource source, string? name, ModelLoadOptions options, Func<Tensor, Tensor> layerFeatures, bool withoutClassifier)
    {
        if (source == FeatureSource.Input)
        {
            // A gate over a detector of inputs: the catalog is passed on as it is, for a scorer that needs its code.
            return options;
        }

        var catalog = options.Catalog ?? throw new ArgumentException(
            "GateLoadOptions.Model.Catalog is null; use ModelCatalog.BuiltIn or a catalog made from it.", nameof(options));
        if (source == FeatureSource.Layer)
        {
            if (catalog.HasFeatureExtractor)
            {
                throw new ArgumentException(
                    $"This gate reads its features from the classifier layer '{name}'; its catalog (GateLoadOptions.Model.Catalog) must hold no feature extractor.",
                    nameof(options));
            }

            return options with { Catalog = catalog.WithFeatureExtractor(layerFeatures) };
        }

        if (catalog.FeatureExtractor is null && withoutClassifier)
        {
            return options with { Catalog = catalog.WithFeatureExtractor(layerFeatures) };
        }

        if (catalog.FeatureExtractor is null)
        {
            throw new ArgumentException(
                $"This gate was fitted with the feature extractor function '{name}', which is code and not stored: register it again, "
                + "GateLoadOptions.Model = new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(extractor) }"
                + (catalog.FeatureExtractorModule is null ? "." : " (a function; the catalog holds a module)."),
                nameof(options));
        }

        return options;
    }

    private static ClassifierFingerprint ReadFingerprint(string path, JsonObject node, string where)
    {
        var parameters = ReadStrings(path, Json.Array(node, "parameters", where, MaxParameters), $"{where}.parameters", 4096);
        var sha = Json.String(node, "sha256", where, 64);
        string[]? tensorHashes = null;
        if (node.ContainsKey("tensorSha256"))
        {
            tensorHashes = ReadStrings(path, Json.Array(node, "tensorSha256", where, MaxParameters), $"{where}.tensorSha256", 64);
            if (tensorHashes.Length != parameters.Length)
            {
                throw ModelContainer.Error(path, $"{where}.tensorSha256 has {tensorHashes.Length} entries for {parameters.Length} parameters");
            }
        }

        return new ClassifierFingerprint(Array.AsReadOnly(parameters), sha) { TensorHashes = tensorHashes is null ? null : Array.AsReadOnly(tensorHashes) };
    }

    private static string[] ReadStrings(string path, JsonArray array, string where, int maxLength)
    {
        var result = new string[array.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = array[i] is JsonValue value && value.TryGetValue(out string? text) && text.Length is > 0 && text.Length <= maxLength
                ? text
                : throw ModelContainer.Error(path, $"{where}[{i}] must be a string of 1 to {maxLength} characters");
        }

        return result;
    }

    private static string SourceName(FeatureSource source) => source switch
    {
        FeatureSource.Layer => "layer",
        FeatureSource.Extractor => "extractor",
        _ => "input",
    };

    private static FeatureSource ParseSource(string path, string name) => name switch
    {
        "layer" => FeatureSource.Layer,
        "extractor" => FeatureSource.Extractor,
        "input" => FeatureSource.Input,
        _ => throw ModelContainer.Error(path, $"{Where}.features.source is \"{name}\"; expected \"layer\", \"extractor\" or \"input\""),
    };

    /// <summary>What a gate file holds, with the detector built (and owned by whoever takes it).</summary>
    internal sealed record Stored(
        OodDetector Detector,
        FeatureSource Source,
        string? FeatureName,
        int FeatureDimension,
        long[] InputShape,
        string[] ClassNames,
        int ChunkSize);
}
