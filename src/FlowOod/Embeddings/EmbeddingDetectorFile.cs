using System.Collections.Generic;
using System.Text.Json.Nodes;
using FlowOod.Detection;
using FlowOod.Persistence;
using FlowOod.Scoring;

namespace FlowOod.Embeddings;

/// <summary>
/// An embedding detector ↔ a model file of kind <c>"embedding-detector"</c> (docs/model-format.md): the detector stored
/// as in a detector file (a FeatureSpace scorer with <c>"extractor": "identity"</c>, α, threshold, calibration scores),
/// plus D and the chunk size, both bounded before anything is allocated.
/// </summary>
internal static class EmbeddingDetectorFile
{
    private const string Where = "$.content";

    public static void Save(EmbeddingDetector detector, string path, IReadOnlyDictionary<string, string>? metadata)
    {
        var inner = detector.Detector;
        var writer = new ModelFileWriter();
        writer.AddDoubles("detector.calibration", inner.CalibrationScores);
        var content = new JsonObject
        {
            ["detector"] = new JsonObject
            {
                ["scorer"] = ScorerCodec.Encode(inner.Scorer, writer),
                ["targetFalsePositiveRate"] = inner.TargetFalsePositiveRate,
                ["threshold"] = inner.Threshold,
                ["calibrationScores"] = "detector.calibration",
            },
            ["dimension"] = detector.Dimension,
            ["chunkSize"] = detector.ChunkSize,
        };
        writer.Write(path, EmbeddingDetector.FileKind, content, metadata);
    }

    public static EmbeddingDetector Load(string path, ModelLoadOptions? options, double? targetFalsePositiveRate)
    {
        int? tooFew = null;
        var loaded = ModelFile.Load(path, EmbeddingDetector.FileKind, options, (reader, content, o) =>
        {
            // D and the chunk size decide what every evaluation allocates: bounded first.
            var dimension = Json.Int(content, "dimension", Where, 2, EmbeddingRows.MaxDimension);
            var chunkSize = Json.Int(content, "chunkSize", Where, 1, EmbeddingDetector.MaxChunkSize);
            if ((long)chunkSize * dimension > EmbeddingRows.MaxChunkValues)
            {
                throw ModelContainer.Error(path, $"{Where}.chunkSize {chunkSize} × dimension {dimension} exceeds the {EmbeddingRows.MaxChunkValues} values a chunk may hold");
            }

            var stored = Json.Object(content, "detector", Where);
            var calibration = reader.ReadDoubles(Json.String(stored, "calibrationScores", $"{Where}.detector", 64));
            var storedScorer = Json.Object(stored, "scorer", $"{Where}.detector");

            // The scorer reads precomputed rows: without "extractor": "identity" it would ask the caller for extractor code
            // (an ArgumentException about the options) although the file, not the options, is wrong.
            if (storedScorer["extractor"] is not JsonValue extractor || !extractor.TryGetValue(out string? kind) || kind != "identity")
            {
                throw ModelContainer.Error(path, $"{Where}.detector.scorer.extractor must be \"identity\": an embedding detector's scorer reads precomputed rows");
            }

            var scorer = ScorerCodec.Decode(reader, storedScorer, $"{Where}.detector.scorer", o);
            if (scorer is not FeatureSpaceScorer { HasIdentityExtractor: true } features)
            {
                throw ModelContainer.Error(path, $"an embedding detector needs a FeatureSpace scorer with the identity extractor, the file holds {scorer.Name}");
            }

            if (features.FeatureDimension != dimension)
            {
                throw ModelContainer.Error(path, $"its scorer takes {features.FeatureDimension} features, {Where}.dimension says {dimension}");
            }

            var storedRate = Json.Double(stored, "targetFalsePositiveRate", $"{Where}.detector", 0, 1);
            var storedThreshold = Json.Double(stored, "threshold", $"{Where}.detector");
            var detector = new OodDetector(scorer, storedRate, calibration);
            if (!detector.Threshold.Equals(storedThreshold))
            {
                throw ModelContainer.Error(path, $"its stored threshold {storedThreshold:R} differs from the {detector.Threshold:R} its calibration scores give");
            }

            var rate = storedRate;
            if (targetFalsePositiveRate is { } alpha)
            {
                if (alpha < 1.0 / calibration.Length)
                {
                    tooFew = calibration.Length;
                }
                else
                {
                    rate = alpha;
                }
            }

            return new EmbeddingDetector(new OodDetector(scorer, rate, calibration, ownsScorer: true), chunkSize);
        });

        if (tooFew is { } n)
        {
            loaded.Dispose();
            throw new System.ArgumentException(
                $"A target false-positive rate of {targetFalsePositiveRate} needs at least {OodDetector.RequiredCalibrationCount(targetFalsePositiveRate!.Value)} "
                + $"calibration scores (α ≥ 1/n); the file holds {n}.",
                nameof(targetFalsePositiveRate));
        }

        return loaded;
    }
}
