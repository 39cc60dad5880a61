using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FlowOod.Persistence;
using FlowOod.Precision;
using FlowOod.Training;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>
/// The flows a <see cref="FlowCache"/> with a folder keeps on disk: per trained flow a model file
/// (<c>STEM-HASH.flowood</c>, <see cref="ModelFile"/>) and beside it <c>STEM-HASH.json</c> with the cache key, the FlowOod
/// version, the training summary, result and curve. The JSON is written after the model file, atomically, so a flow
/// counts as saved only when both are complete; a file that does not read (truncated, another version, another key) is
/// reported and the flow trained again.
/// </summary>
internal static class SavedFlows
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The file stem of the flow with <paramref name="key"/>: the model's stem and 12 hex digits of the key's SHA-256.</summary>
    public static string Stem(string modelStem, string key) =>
        modelStem + "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12];

    /// <summary>Saves <paramref name="trained"/> to <paramref name="folder"/>; a flow that cannot be saved is reported, not fatal.</summary>
    public static void Save(string folder, string modelStem, string key, TrainedFlow trained, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(trained);
        ArgumentNullException.ThrowIfNull(console);
        Directory.CreateDirectory(folder);
        var stem = Path.Combine(folder, Stem(modelStem, key));
        try
        {
            ModelFile.Save(trained.Flow, stem + ModelFile.Extension, new Dictionary<string, string> { ["cacheKey"] = key, ["training"] = trained.Summary });
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException or IOException)
        {
            console.WriteLine($"Could not save the trained {modelStem} ({e.Message}); a rerun will train it again.");
            return;
        }

        var r = trained.Result;
        var record = new Record(
            key, ModelFile.LibraryVersion, trained.Summary,
            r.Steps, r.FinalLoss, r.ExamplesPerSecond, r.Elapsed.TotalSeconds, r.EvaluationLoss, r.NegativeLoss, r.Precision,
            trained.Curve.Model, trained.Curve.BatchSize, trained.Curve.HeldOutDescription,
            [.. trained.Curve.Training.Select(p => new[] { p.Images, p.BitsPerDim })],
            [.. trained.Curve.HeldOut.Select(p => new[] { p.Images, p.BitsPerDim })]);
        ReproduceExperiment.WriteAtomically(stem + ".json", JsonSerializer.Serialize(record, Json));
    }

    /// <summary>The flow with <paramref name="key"/> saved in <paramref name="folder"/>, or null when there is none that reads.</summary>
    public static TrainedFlow? TryLoad(string folder, string modelStem, string key, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var stem = Path.Combine(folder, Stem(modelStem, key));
        if (!File.Exists(stem + ".json") || !File.Exists(stem + ModelFile.Extension))
        {
            return null;
        }

        Record? record;
        try
        {
            record = JsonSerializer.Deserialize<Record>(File.ReadAllText(stem + ".json"), Json);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            console.WriteLine($"The saved {modelStem} in {stem}.json does not read ({e.Message}); training it again.");
            return null;
        }

        if (record is null || record.Key != key || record.Version != ModelFile.LibraryVersion || record.Training is null || record.HeldOut is null)
        {
            console.WriteLine($"The saved {modelStem} in {stem}.json is of another run or FlowOod version ({record?.Version ?? "unknown"}); training it again.");
            return null;
        }

        NormalizingFlow flow;
        try
        {
            flow = ModelFile.LoadFlow(stem + ModelFile.Extension);
        }
        catch (Exception e) when (e is ModelFormatException or IOException or InvalidDataException)
        {
            console.WriteLine($"The saved {modelStem} in {stem}{ModelFile.Extension} does not load ({e.Message}); training it again.");
            return null;
        }

        flow.eval();
        var result = new TrainingResult(record.Steps, record.FinalLoss, record.ExamplesPerSecond, TimeSpan.FromSeconds(record.ElapsedSeconds), record.EvaluationLoss)
        {
            NegativeLoss = record.NegativeLoss,
            Precision = record.Precision,
        };
        var curve = TrainingCurve.Restore(record.CurveModel, record.BatchSize, record.HeldOutDescription,
            record.Training.Select(p => (p[0], p[1])), record.HeldOut.Select(p => (p[0], p[1])));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Loaded the trained {modelStem} from {stem}{ModelFile.Extension} (saved by an earlier run; not trained again)."));
        return new TrainedFlow(flow, result, record.Summary, curve);
    }

    private sealed record Record(
        string Key,
        string Version,
        string Summary,
        int Steps,
        double FinalLoss,
        double ExamplesPerSecond,
        double ElapsedSeconds,
        double? EvaluationLoss,
        double? NegativeLoss,
        ComputePrecision Precision,
        string CurveModel,
        int BatchSize,
        string? HeldOutDescription,
        double[][] Training,
        double[][] HeldOut);
}
