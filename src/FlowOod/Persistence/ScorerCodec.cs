using System;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Components;
using FlowOod.Scoring;

namespace FlowOod.Persistence;

/// <summary>FlowOod's scorers ↔ a model file's content: settings in JSON, flows and fitted vectors as tensors.</summary>
internal static class ScorerCodec
{
    public static JsonObject Encode(IOodScorer scorer, ModelFileWriter writer) => scorer switch
    {
        NegativeLogLikelihoodScorer s => new JsonObject
        {
            ["type"] = "NegativeLogLikelihood",
            ["flow"] = writer.AddFlow(s.Flow),
            ["unit"] = s.Unit.ToString(),
            ["chunkSize"] = s.ChunkSize,
            ["noise"] = Noise(s.Noise),
        },
        TypicalityScorer s => new JsonObject
        {
            ["type"] = "Typicality",
            ["flow"] = writer.AddFlow(s.Flow),
            ["entropy"] = s.Entropy,
            ["chunkSize"] = s.ChunkSize,
            ["noise"] = Noise(s.Noise),
        },
        WaicScorer s => new JsonObject
        {
            ["type"] = "Waic",
            ["ensemble"] = Json.ToArray(s.Ensemble.Select(flow => (long)writer.AddFlow(flow))),
            ["chunkSize"] = s.ChunkSize,
            ["noise"] = Noise(s.Noise),
        },
        FeatureSpaceScorer s => FeatureSpace(s, writer),
        LikelihoodRatioScorer s => new JsonObject
        {
            ["type"] = "LikelihoodRatio",
            ["foreground"] = writer.AddFlow(s.Foreground),
            ["background"] = writer.AddFlow(s.Background),
            ["chunkSize"] = s.ChunkSize,
            ["noise"] = Noise(s.Noise),
        },
        InputComplexityScorer s => new JsonObject
        {
            ["type"] = "InputComplexity",
            ["flow"] = writer.AddFlow(s.Flow),
            ["compressor"] = Compressor(s.Compressor),
            ["chunkSize"] = s.ChunkSize,
            ["noise"] = Noise(s.Noise),
        },
        _ => throw new NotSupportedException(
            $"Model files store FlowOod's own scorers; {scorer.GetType().Name} is not one of them (save its flows with ModelFile.Save(flow, ...)."),
    };

    public static IOodScorer Decode(ModelFileReader reader, JsonObject content, string where, ModelLoadOptions options)
    {
        var type = Json.String(content, "type", where, 64);
        return type switch
        {
            "NegativeLogLikelihood" => new NegativeLogLikelihoodScorer(
                reader.ReadFlow(content, "flow", where, options),
                Json.Enum<LikelihoodUnit>(content, "unit", where),
                ChunkSize(content, where),
                Noise(reader, content, where),
                ownsFlow: true),
            "Typicality" => new TypicalityScorer(
                reader.ReadFlow(content, "flow", where, options),
                Json.Double(content, "entropy", where),
                ChunkSize(content, where),
                Noise(reader, content, where),
                ownsFlow: true),
            "Waic" => new WaicScorer(
                reader.ReadFlows(content, "ensemble", where, options),
                ChunkSize(content, where),
                Noise(reader, content, where),
                ownsFlows: true),
            "FeatureSpace" => FeatureSpace(reader, content, where, options),
            "LikelihoodRatio" => new LikelihoodRatioScorer(
                reader.ReadFlow(content, "foreground", where, options),
                reader.ReadFlow(content, "background", where, options),
                ChunkSize(content, where),
                Noise(reader, content, where),
                ownsFlows: true),
            "InputComplexity" => new InputComplexityScorer(
                reader.ReadFlow(content, "flow", where, options),
                Compressor(content, where, options),
                ChunkSize(content, where),
                Noise(reader, content, where),
                ownsFlow: true),
            _ => throw ModelContainer.Error(reader.Path, $"{where}.type \"{type}\" is not a scorer this FlowOod knows"),
        };
    }

    private static JsonObject FeatureSpace(FeatureSpaceScorer s, ModelFileWriter writer)
    {
        writer.AddDoubles("scorer.mean", s.Standardizer.Mean);
        writer.AddDoubles("scorer.std", s.Standardizer.StandardDeviation);
        return new JsonObject
        {
            ["type"] = "FeatureSpace",
            ["flow"] = writer.AddFlow(s.Flow),
            ["featureDimension"] = s.FeatureDimension,
            ["mean"] = "scorer.mean",
            ["std"] = "scorer.std",
            ["chunkSize"] = s.ChunkSize,
            ["extractorName"] = s.ExtractorName,
        };
    }

    private static FeatureSpaceScorer FeatureSpace(ModelFileReader reader, JsonObject content, string where, ModelLoadOptions options)
    {
        var dimension = Json.Int(content, "featureDimension", where, 1, MaxCount);
        var extractorName = Json.String(content, "extractorName", where, 256);
        if (options.FeatureExtractor is null == options.FeatureExtractorModule is null)
        {
            throw new ArgumentException(
                $"This file holds a feature-space scorer whose extractor ('{extractorName}', {dimension} features) is code, not data: " +
                "pass it as exactly one of ModelLoadOptions.FeatureExtractor or FeatureExtractorModule.",
                nameof(options));
        }

        var standardizer = new FeatureStandardizer(
            reader.ReadDoubles(Json.String(content, "mean", where, 128), dimension),
            reader.ReadDoubles(Json.String(content, "std", where, 128), dimension));
        var flow = reader.ReadFlow(content, "flow", where, options);
        var chunkSize = ChunkSize(content, where);
        return options.FeatureExtractorModule is { } module
            ? new FeatureSpaceScorer(module, flow, standardizer, chunkSize, extractorName, ownsFlow: true)
            : new FeatureSpaceScorer(options.FeatureExtractor!, flow, standardizer, chunkSize, extractorName, ownsFlow: true);
    }

    /// <summary>
    /// A compressor that describes itself is stored by its component name (as a string when it has no settings, as
    /// <c>{"type": name, ...}</c> otherwise); any other by its <see cref="ICompressor.Name"/>.
    /// </summary>
    private static JsonNode Compressor(ICompressor compressor)
    {
        if (compressor is not IComponent)
        {
            return JsonValue.Create(compressor.Name);
        }

        var described = ComponentWriter.Describe(compressor);
        return described.Count == 1 ? described["type"]!.DeepClone() : described;
    }

    private static ICompressor Compressor(JsonObject content, string where, ModelLoadOptions options)
    {
        var catalog = options.Components ?? throw new ArgumentException("ModelLoadOptions.Components is null; use ComponentCatalog.BuiltIn or a catalog made from it.", nameof(options));
        var path = where + ".compressor";
        string name;
        JsonObject fields;
        if (content["compressor"] is JsonObject described)
        {
            fields = described;
            name = Json.String(described, "type", path, 64);
        }
        else
        {
            name = Json.String(content, "compressor", where, 128);
            fields = [];
        }

        if (options.Compressors.FirstOrDefault(c => c.Name == name) is { } given)
        {
            return given;
        }

        return catalog.Contains<ICompressor>(name)
            ? catalog.Read<ICompressor>(name, fields, path)
            : throw new ArgumentException(
                $"This file's input-complexity scorer uses the compressor \"{name}\", which is not FlowOod's; pass an instance in " +
                "ModelLoadOptions.Compressors, or, if it is a component, register its type in ModelLoadOptions.Components with ComponentCatalog.BuiltIn.With<T>().",
                nameof(options));
    }

    private const int MaxCount = 1 << 24;

    public static int ChunkSize(JsonObject content, string where) => Json.Int(content, "chunkSize", where, 1, MaxCount);

    public static JsonObject Noise(ScoringNoise noise) => new() { ["kind"] = noise.Kind.ToString(), ["seed"] = noise.Seed };

    /// <summary>
    /// The stored noise. Format v1's "Seeded" is today's <see cref="ScoringNoiseKind.SeededStream"/> (v1 files give
    /// their recorded scores); from v2 on, "Seeded" is the batch-independent noise keyed by each input's values.
    /// </summary>
    public static ScoringNoise Noise(ModelFileReader reader, JsonObject content, string where)
    {
        var node = Json.Object(content, "noise", where);
        var kind = Json.Enum<ScoringNoiseKind>(node, "kind", where + ".noise");
        if (reader.FormatVersion < 2)
        {
            kind = kind switch
            {
                ScoringNoiseKind.Seeded => ScoringNoiseKind.SeededStream,
                ScoringNoiseKind.SeededStream => throw ModelContainer.Error(reader.Path, $"{where}.noise.kind SeededStream does not exist in format version 1"),
                _ => kind,
            };
        }

        return ScoringNoise.Of(kind, Json.ULong(node, "seed", where + ".noise"));
    }
}
