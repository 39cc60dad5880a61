using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Text.Json.Nodes;
using FlowOod.Components;
using FlowOod.Detection;
using FlowOod.Scoring;

namespace FlowOod.Persistence;

/// <summary>
/// FlowOod's model file: flows, scorers and detectors in one safe, versioned, checksummed format (extension
/// <see cref="Extension"/>).
/// </summary>
/// <remarks>
/// <para>Layout: magic bytes, format version, a JSON header (kind, the architecture of every flow, scorer and detector
/// settings, your metadata, the FlowOod version, and a table of tensors), the raw little-endian tensors, and a SHA-256
/// over everything before it. The FlowOod source repository documents the format in <c>docs/model-format.md</c>.</para>
/// <para>Saving is atomic: the file is written to a temporary file in the same folder, flushed to disk and renamed over
/// the target, so a crash leaves either the old file or the new one, never half of one.</para>
/// <para>Loading validates the magic, the version (files from a newer format are refused with a message), every declared
/// size against the file's length, the checksum, the JSON header and the architecture (built on the meta device and
/// compared with the stored tensor shapes) <i>before</i> it allocates parameters. Any problem is a
/// <see cref="ModelFormatException"/> naming it. A reloaded flow is in evaluation mode and gives bit-identical
/// log-densities (ActNorm state and BatchNorm statistics are buffers of the file); loading leaves torch's global random
/// state as it was.</para>
/// </remarks>
public static class ModelFile
{
    /// <summary>The recommended file extension.</summary>
    public const string Extension = ".flowood";

    internal const string FormatName = "FlowOod model";

    /// <summary>The version of FlowOod that writes files (stored in every header).</summary>
    public static string LibraryVersion { get; } =
        typeof(ModelFile).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    /// <summary>Saves a flow.</summary>
    /// <param name="flow">A flow with an <see cref="NormalizingFlow.Architecture"/> (every FlowOod builder sets one).</param>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes (training data, steps, loss, ...), stored in the header.</param>
    /// <exception cref="NotSupportedException">The flow has no architecture description.</exception>
    /// <exception cref="ArgumentException">A flow parameter, a statistic or a stored score is NaN or ±∞ (such a file could not be loaded; nothing is written).</exception>
    public static void Save(NormalizingFlow flow, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var writer = new ModelFileWriter();
        var index = writer.AddFlow(flow);
        writer.Write(path, "flow", new JsonObject { ["flow"] = index }, metadata);
    }

    /// <summary>Saves a scorer with its flows and fitted state.</summary>
    /// <param name="scorer">A scorer that describes itself (FlowOod's do; yours implement <see cref="IComponent{TSelf}"/> with a
    /// <see cref="ComponentNameAttribute"/>): its settings, fitted state and flows are stored, under its component name.</param>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="NotSupportedException">The scorer does not describe itself, or one of its flows has no architecture.</exception>
    /// <exception cref="ArgumentException">A flow parameter, a statistic or a stored score is NaN or ±∞ (such a file could not be loaded; nothing is written).</exception>
    public static void Save(IOodScorer scorer, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var writer = new ModelFileWriter();
        var content = ScorerCodec.Encode(scorer, writer);
        writer.Write(path, "scorer", content, metadata);
    }

    /// <summary>Saves a detector: its scorer (flows and fitted state), target false-positive rate and calibration scores.</summary>
    /// <param name="detector">The calibrated detector.</param>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="NotSupportedException">The detector's scorer cannot be saved (see <see cref="Save(IOodScorer, string, IReadOnlyDictionary{string, string}?)"/>).</exception>
    /// <exception cref="ArgumentException">A flow parameter, a statistic or a stored score is NaN or ±∞ (such a file could not be loaded; nothing is written).</exception>
    public static void Save(OodDetector detector, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        var writer = new ModelFileWriter();
        writer.AddDoubles("detector.calibration", detector.CalibrationScores);
        var content = new JsonObject
        {
            ["scorer"] = ScorerCodec.Encode(detector.Scorer, writer),
            ["targetFalsePositiveRate"] = detector.TargetFalsePositiveRate,
            ["threshold"] = detector.Threshold,
            ["calibrationScores"] = "detector.calibration",
        };
        writer.Write(path, "detector", content, metadata);
    }

    /// <summary>Loads a detector saved by <see cref="Save(OodDetector, string, IReadOnlyDictionary{string, string}?)"/>; it gives the same verdicts, scores and p-values.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, factories for custom architectures, extractors and compressors (code is not stored), size limit.</param>
    /// <exception cref="ModelFormatException">The file is not a valid FlowOod detector file, or its stored threshold disagrees with its calibration.</exception>
    public static OodDetector LoadDetector(string path, ModelLoadOptions? options = null) =>
        Load(path, "detector", options, (reader, content, o) =>
        {
            const string where = "$.content";
            var calibration = reader.ReadDoubles(Json.String(content, "calibrationScores", where, 64));
            var scorer = ScorerCodec.Decode(reader, Json.Object(content, "scorer", where), where + ".scorer", o);
            var detector = new OodDetector(scorer, Json.Double(content, "targetFalsePositiveRate", where, 0, 1), calibration, ownsScorer: true);
            var stored = Json.Double(content, "threshold", where);
            return detector.Threshold.Equals(stored)
                ? detector
                : throw ModelContainer.Error(reader.Path, $"its stored threshold {stored:R} differs from the {detector.Threshold:R} its calibration scores give");
        });

    /// <summary>Saves a batch typicality test with its flow, entropy estimate and bootstrap statistics.</summary>
    /// <param name="test">The fitted test.</param>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="NotSupportedException">The test's flow has no architecture.</exception>
    /// <exception cref="ArgumentException">A flow parameter, a statistic or a stored score is NaN or ±∞ (such a file could not be loaded; nothing is written).</exception>
    public static void Save(TypicalityTest test, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(test);
        var writer = new ModelFileWriter();
        writer.AddDoubles("typicality.bootstrap", test.BootstrapStatistics);
        var content = new JsonObject
        {
            ["flow"] = writer.AddFlow(test.Flow),
            ["entropy"] = test.Entropy,
            ["batchSize"] = test.BatchSize,
            ["alpha"] = test.Alpha,
            ["bootstrapStatistics"] = "typicality.bootstrap",
            ["chunkSize"] = test.ChunkSize,
            ["noise"] = ScorerCodec.Noise(test.Noise),
        };
        writer.Write(path, "typicality-test", content, metadata);
    }

    /// <summary>Loads a test saved by <see cref="Save(TypicalityTest, string, IReadOnlyDictionary{string, string}?)"/>.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, factories for custom architectures, extractors and compressors (code is not stored), size limit.</param>
    /// <exception cref="ModelFormatException">The file is not a valid FlowOod typicality-test file.</exception>
    public static TypicalityTest LoadTypicalityTest(string path, ModelLoadOptions? options = null) =>
        Load(path, "typicality-test", options, (reader, content, o) =>
        {
            const string where = "$.content";
            var flow = reader.ReadFlow(content, "flow", where, o);
            return new TypicalityTest(
                flow,
                Json.Double(content, "entropy", where),
                Json.Int(content, "batchSize", where, 1, ComponentLimits.MaxCount),
                Json.Double(content, "alpha", where, 0, 1),
                reader.ReadDoubles(Json.String(content, "bootstrapStatistics", where, 64)),
                ScorerCodec.ChunkSize(content, where),
                ScorerCodec.Noise(reader, content, where),
                ownsFlow: true);
        });

    /// <summary>Loads a flow saved by <see cref="Save(NormalizingFlow, string, IReadOnlyDictionary{string, string}?)"/>.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, factories for custom architectures, extractors and compressors (code is not stored), size limit.</param>
    /// <exception cref="ModelFormatException">The file is not a valid FlowOod flow file.</exception>
    public static NormalizingFlow LoadFlow(string path, ModelLoadOptions? options = null) =>
        Load(path, "flow", options, (reader, content, o) => reader.ReadFlow(content, "flow", "$.content", o));

    /// <summary>Loads a scorer saved by <see cref="Save(IOodScorer, string, IReadOnlyDictionary{string, string}?)"/>; it owns its flows.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, factories for custom architectures, extractors and compressors (code is not stored),
    /// the component catalog (register your own scorers there), size limit.</param>
    /// <exception cref="ModelFormatException">The file is not a valid FlowOod scorer file, or names a scorer (or compressor) that neither the catalog holds nor the options provide.</exception>
    public static IOodScorer LoadScorer(string path, ModelLoadOptions? options = null) =>
        Load(path, "scorer", options, (reader, content, o) => ScorerCodec.Decode(reader, content, "$.content", o));

    /// <summary>Reads a file's header only (after the same validation as a load): kind, versions and metadata.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">Device, factories for custom architectures, extractors and compressors (code is not stored), size limit.</param>
    /// <exception cref="ModelFormatException">The file is not a valid FlowOod model file.</exception>
    public static ModelFileInfo ReadInfo(string path, ModelLoadOptions? options = null) =>
        NamingTheFile(path, () => ReadInfoValidated(path, options ?? new ModelLoadOptions()));

    private static ModelFileInfo ReadInfoValidated(string path, ModelLoadOptions options)
    {
        using var reader = ModelContainer.Open(path, options.MaxFileBytes);
        var header = reader.Header;
        var metadata = Json.Object(header, "metadata", "$").ToDictionary(
            p => p.Key,
            p => p.Value is JsonValue v && v.TryGetValue(out string? s) ? s : throw ModelContainer.Error(path, $"metadata '{p.Key}' is not a string"));
        return new ModelFileInfo(
            Json.String(header, "kind", "$", 32),
            reader.FormatVersion,
            Json.String(header, "flowOodVersion", "$", 64),
            metadata,
            Json.Array(header, "flows", "$", ModelFileReader.MaxFlows).Select((f, i) => f is JsonObject o ? Json.String(o, "builder", $"$.flows[{i}]", 64) : "?").ToArray());
    }

    internal static T Load<T>(string path, string kind, ModelLoadOptions? options, Func<ModelFileReader, JsonObject, ModelLoadOptions, T> read)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ModelLoadOptions();
        return NamingTheFile(path, () => LoadValidated(path, kind, options, read));
    }

    // The header readers name the JSON path; the messages that leave ModelFile name the file too.
    private static T NamingTheFile<T>(string path, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (HeaderException e)
        {
            throw new ModelFormatException($"Model file '{path}' is invalid: {e.Message}", e);
        }
        catch (ComponentFormatException e)
        {
            throw new ModelFormatException($"Model file '{path}' is invalid: {e.Message}", e);
        }
    }

    private static T LoadValidated<T>(string path, string kind, ModelLoadOptions options, Func<ModelFileReader, JsonObject, ModelLoadOptions, T> read)
    {
        using var reader = ModelContainer.Open(path, options.MaxFileBytes);
        reader.FlowsMustScore = kind != "flow";
        var header = reader.Header;
        var format = Json.String(header, "format", "$", 64);
        if (format != FormatName)
        {
            throw ModelContainer.Error(path, $"its header names the format \"{format}\", not \"{FormatName}\"");
        }

        var stored = Json.String(header, "kind", "$", 32);
        if (stored != kind)
        {
            throw ModelContainer.Error(path, $"it holds a {stored}, not a {kind}; load it with the matching ModelFile method");
        }

        try
        {
            var result = read(reader, Json.Object(header, "content", "$"), options);
            reader.CheckAllConsumed();
            reader.KeepCreatedFlows();
            return result;
        }
        catch (ArgumentException e) when (e.ParamName != "options")
        {
            throw ModelContainer.Error(path, $"its stored settings are inconsistent: {e.Message}");
        }
        catch (System.IO.EndOfStreamException e)
        {
            throw new ModelFormatException($"Model file '{path}' ended while its tensors were read (was it replaced while loading?).", e);
        }
    }
}
