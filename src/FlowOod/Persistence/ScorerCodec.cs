using System;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Scoring;

namespace FlowOod.Persistence;

/// <summary>FlowOod's scorers ↔ a model file's content: settings in JSON, flows and fitted vectors as tensors.</summary>
internal static class ScorerCodec
{
    public static JsonObject Encode(IOodScorer scorer, ModelFileWriter writer, string tensorPrefix) => scorer switch
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
        _ => throw new NotSupportedException(
            $"Model files store FlowOod's own scorers; {scorer.GetType().Name} is not one of them (save its flows with ModelFile.Save(flow, ...)."),
    };

    public static IOodScorer Decode(ModelFileReader reader, JsonObject content, string where, string tensorPrefix, ModelLoadOptions options)
    {
        var type = Json.String(content, "type", where, 64);
        return type switch
        {
            "NegativeLogLikelihood" => new NegativeLogLikelihoodScorer(
                reader.ReadFlow(content, "flow", where, options),
                Json.Enum<LikelihoodUnit>(content, "unit", where),
                ChunkSize(content, where),
                Noise(content, where)),
            "Typicality" => new TypicalityScorer(
                reader.ReadFlow(content, "flow", where, options),
                Json.Double(content, "entropy", where),
                ChunkSize(content, where),
                Noise(content, where)),
            "Waic" => new WaicScorer(
                reader.ReadFlows(content, "ensemble", where, options),
                ChunkSize(content, where),
                Noise(content, where)),
            _ => throw ModelContainer.Error(reader.Path, $"{where}.type \"{type}\" is not a scorer this FlowOod knows"),
        };
    }

    private static int ChunkSize(JsonObject content, string where) => Json.Int(content, "chunkSize", where, 1, 1 << 24);

    public static JsonObject Noise(ScoringNoise noise) => new() { ["kind"] = noise.Kind.ToString(), ["seed"] = noise.Seed };

    public static ScoringNoise Noise(JsonObject content, string where)
    {
        var node = Json.Object(content, "noise", where);
        return ScoringNoise.Of(Json.Enum<ScoringNoiseKind>(node, "kind", where + ".noise"), Json.ULong(node, "seed", where + ".noise"));
    }
}
