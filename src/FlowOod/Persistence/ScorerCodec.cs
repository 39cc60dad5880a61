using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Components;
using FlowOod.Scoring;

namespace FlowOod.Persistence;

/// <summary>
/// Scorers ↔ a model file's content. A scorer is a component of kind "scorer": it writes its own fields (settings in
/// JSON; flows and fitted vectors as tensors of the file, through <see cref="FileSink"/>) and is read back by its
/// registered name from <see cref="ModelLoadOptions.Catalog"/> (through <see cref="FileSource"/>, which also hands it
/// the file's format version and the code passed in the options).
/// </summary>
internal static class ScorerCodec
{
    public static JsonObject Encode(IOodScorer scorer, ModelFileWriter writer)
    {
        try
        {
            return ComponentWriter.Describe(scorer, new FileSink(writer, "scorer."));
        }
        catch (ComponentWriter.NotDescribableException e) when (e.Type == scorer.GetType())
        {
            throw new NotSupportedException(
                $"Model files store scorers that describe themselves; {scorer.GetType().FullName} does not. Implement IComponent<TSelf> with a "
                + "[ComponentName(\"...\")] on it (writing its flows with WriteFlow and fitted vectors with WriteDoubles), and register it to load: "
                + "ModelLoadOptions.Catalog = ModelCatalog.BuiltIn.With<YourScorer>().",
                e);
        }
    }

    public static IOodScorer Decode(ModelFileReader reader, JsonObject content, string where, ModelLoadOptions options)
    {
        var catalog = options.Catalog ?? throw new ArgumentException("ModelLoadOptions.Catalog is null; use ModelCatalog.BuiltIn or a catalog made from it.", nameof(options));
        var type = Json.String(content, "type", where, 64);
        return catalog.Components.Read<IOodScorer>(type, content, where, new FileSource(reader, options));
    }

    public static int ChunkSize(JsonObject content, string where) => Json.Int(content, "chunkSize", where, 1, ComponentLimits.MaxCount);

    public static JsonObject Noise(ScoringNoise noise) => new() { ["kind"] = noise.Kind.ToString(), ["seed"] = noise.Seed };

    /// <summary>
    /// The stored noise. Format v1's "Seeded" is today's <see cref="ScoringNoiseKind.SeededStream"/> (v1 files give
    /// their recorded scores); from v2 on, "Seeded" is the batch-independent noise keyed by each input's values.
    /// Scorers read theirs with <see cref="ComponentFlowFields.ReadNoise"/>, which applies the same rule.
    /// </summary>
    public static ScoringNoise Noise(ModelFileReader reader, JsonObject content, string where)
    {
        var node = Json.Object(content, "noise", where);
        var kind = ScoringNoise.KindInFormat(Json.Enum<ScoringNoiseKind>(node, "kind", where + ".noise"), reader.FormatVersion)
            ?? throw ModelContainer.Error(reader.Path, $"{where}.noise.kind SeededStream does not exist in format version 1");
        return ScoringNoise.Of(kind, Json.ULong(node, "seed", where + ".noise"));
    }

    /// <summary>Stores a component's flows and vectors in the file being written; fields hold a flow's index or a tensor's name.</summary>
    private sealed class FileSink(ModelFileWriter writer, string tensorPrefix) : IComponentSink
    {
        public JsonNode Store<T>(T value, string field)
            where T : class => value switch
            {
                NormalizingFlow flow => JsonValue.Create(writer.AddFlow(flow)),
                IReadOnlyList<NormalizingFlow> flows => Json.ToArray(flows.Select(flow => (long)writer.AddFlow(flow))),
                _ => throw new NotSupportedException($"Model files store flows and float64 vectors beside a component's settings, not {typeof(T).Name} values (field '{field}')."),
            };

        public JsonNode StoreDoubles(IReadOnlyList<double> values, string field)
        {
            var name = writer.UniqueTensorName(tensorPrefix + field);
            writer.AddDoubles(name, values);
            return JsonValue.Create(name);
        }
    }

    /// <summary>Reads a component's flows and vectors from the file being loaded, and hands it the code registered in the options' catalog.</summary>
    private sealed class FileSource(ModelFileReader reader, ModelLoadOptions options) : IComponentSource
    {
        public uint FormatVersion => reader.FormatVersion;

        public T Load<T>(JsonObject fields, string field, string path)
            where T : class
        {
            if (typeof(T) == typeof(NormalizingFlow))
            {
                return (T)(object)reader.ReadFlow(fields, field, path, options);
            }

            if (typeof(T) == typeof(NormalizingFlow[]))
            {
                return (T)(object)reader.ReadFlows(fields, field, path, options);
            }

            throw new NotSupportedException($"Model files store flows and float64 vectors beside a component's settings, not {typeof(T).Name} values (field '{field}').");
        }

        public double[] LoadDoubles(JsonObject fields, string field, string path, int? count) =>
            reader.ReadDoubles(Json.String(fields, field, path, 128), count);

        public IReadOnlyList<T> Provided<T>()
            where T : class =>
            options.Catalog.Provided<T>();

        public ArgumentException NotProvided(string message) => OptionsError(options, message);

        // The load methods let argument errors about their options through (other argument errors become file errors).
        private static ArgumentException OptionsError(ModelLoadOptions options, string message)
        {
            ArgumentNullException.ThrowIfNull(options);
            return new ArgumentException(message, nameof(options));
        }
    }
}
