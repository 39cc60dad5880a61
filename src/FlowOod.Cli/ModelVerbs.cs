using FlowOod.Precision;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Data;
using FlowOod.Persistence;
using FlowOod.Scoring;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood train</c>.</summary>
internal sealed record TrainOptions
{
    /// <summary>The model file to write (atomically).</summary>
    public required string ModelPath { get; init; }

    /// <summary>glow or realnvp: the baseline's quick models.</summary>
    public string Flow { get; init; } = "glow";

    /// <summary>A folder of IDX files (train split preferred) holding the in-distribution images; null: Fashion-MNIST.</summary>
    public string? TrainingData { get; init; }

    public int? Steps { get; init; }

    public int TrainImages { get; init; } = 20_000;

    public int BatchSize { get; init; } = 64;

    public long Seed { get; init; } = 1;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    /// <summary>The st-networks' precision during training (mixed precision for bf16).</summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;
}

/// <summary>Options of <c>flowood score</c>.</summary>
internal sealed record ScoreOptions
{
    /// <summary>A flow, scorer or detector saved by <c>flowood train</c>, <c>fit-detector</c> or <c>ModelFile.Save</c>.</summary>
    public required string ModelPath { get; init; }

    /// <summary>For a flow file: the scorer kind (nll or complexity); null: nll.</summary>
    public string? Scorer { get; init; }

    /// <summary>The sets to score: built-in, synthetic or IDX folders, as <c>--ood</c>; the first is the reference of the AUROCs.</summary>
    public required IReadOnlyList<string> Sets { get; init; }

    public int Limit { get; init; } = 2_000;

    /// <summary>Per-image scores as CSV (set, index, bits/dim); null: none.</summary>
    public string? CsvPath { get; init; }

    public long Seed { get; init; } = 1;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    /// <summary>The st-networks' precision while scoring (the flow is converted once after loading for bf16).</summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;
}

/// <summary>
/// <c>flowood train</c> and <c>flowood score</c>: a flow trained on Fashion-MNIST or any folder of IDX images and saved
/// as a model file; any saved model's scores on any sets (a flow's bits/dim, or its <c>--scorer</c>; a scorer's; a
/// detector's, with the fraction it flags), with AUROCs against the first set and an optional CSV.
/// </summary>
internal static class ModelVerbs
{
    public static void Train(TrainOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var images = options.TrainingData is { } folder ? OodSets.LoadFolder(folder, DatasetSplit.Train) : data.FashionTrain;
        if (images.Height != 28 || images.Width != 28)
        {
            throw new ArgumentException($"'{images.Name}' holds {images.Height}×{images.Width} images; the built-in flows take 28×28.");
        }

        var model = BaselineExperiment.Models(Budget.Quick).Single(m => m.Stem == options.Flow);
        using var cache = new FlowCache();
        var trained = cache.GetOrTrain(model, options.Steps ?? model.Steps, options.BatchSize, images, options.TrainImages, options.Seed, console, plain, options.Precision);
        var directory = Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))!;
        Directory.CreateDirectory(directory);
        ModelFile.Save(trained.Flow, options.ModelPath, new Dictionary<string, string>
        {
            ["trainedOn"] = images.Name,
            ["model"] = model.Description,
            ["training"] = trained.Summary,
        });
        console.WriteLine($"Saved the flow to {options.ModelPath} ({new FileInfo(options.ModelPath).Length.ToString("N0", CultureInfo.InvariantCulture)} bytes).");
    }

    public static IReadOnlyList<OodResult> Score(ScoreOptions options, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var data = SampleData.Prepare(options.Threads, options.DataDirectory);
        var precision = ConditionerPrecision.Choose(options.Precision);
        using var model = DetectorVerbs.Load(options.ModelPath, options.Scorer, new ModelLoadOptions { Precision = options.Precision });
        var scorer = model.Scorer;
        var bitsPerDim = scorer is NegativeLogLikelihoodScorer { Unit: LikelihoodUnit.BitsPerDim };
        var label = bitsPerDim ? "NLL (bits/dim)" : scorer.Name;
        var seed = (int)(options.Seed & int.MaxValue);
        var sets = options.Sets.Select(name => name == "fashion-test"
            ? data.FashionTest.Take(Math.Min(options.Limit, data.FashionTest.Count))
            : OodSets.Load(name, data.FashionTest, options.DataDirectory, options.Limit, seed)).ToList();
        var scores = sets.Select(set => ScoringDisplay.Score(console, plain, $"scoring {set.Name}", scorer, set, 0, Math.Min(options.Limit, set.Count))).ToList();
        console.WriteLine($"{options.ModelPath} ({model.Info.Kind}): {string.Join(", ", model.Info.Metadata.Select(m => $"{m.Key} = {m.Value}"))}.");
        console.WriteLine($"st-networks in {(precision.Precision == ComputePrecision.BFloat16 ? "bf16" : "fp32")}: {precision.Reason}");
        var table = Terminal.NewTable(plain, bitsPerDim ? "bits/dim per set (lower = more likely)" : $"{scorer.Name} per set (higher = more OOD)");
        var headers = new List<string> { "set", "images", "mean", "median", "5%", "95%" };
        if (model.Detector is { } detector)
        {
            headers.Add(string.Create(CultureInfo.InvariantCulture, $"flagged (p ≤ {detector.TargetFalsePositiveRate})"));
        }

        foreach (var header in headers)
        {
            table.AddColumn(header == "set" ? new TableColumn(header) : new TableColumn(Markup.Escape(header)).RightAligned());
        }

        for (int i = 0; i < sets.Count; i++)
        {
            var sorted = scores[i].Order().ToArray();
            var row = new List<string> { Markup.Escape(sets[i].Name), sorted.Length.ToString(CultureInfo.InvariantCulture), F(sorted.Average()), F(Quantile(sorted, 0.5)), F(Quantile(sorted, 0.05)), F(Quantile(sorted, 0.95)) };
            if (model.Detector is { } d)
            {
                row.Add(F(scores[i].Count(x => d.Predict(x).IsOutOfDistribution) / (double)scores[i].Length));
            }

            table.AddRow(row.ToArray());
        }

        console.Write(table);
        var results = Enumerable.Range(1, sets.Count - 1).Select(i => new OodResult(label, sets[0].Name, sets[i].Name, scores[0], scores[i])).ToList();
        if (results.Count > 0)
        {
            OodResult.Write(console, plain, $"{label} as an OOD score: {sets[0].Name} (reference) vs each other set, OOD = positive", results);
        }

        if (options.CsvPath is { } csv)
        {
            var text = new StringBuilder(bitsPerDim ? "set,index,bits_per_dim\n" : "set,index,score\n");
            for (int i = 0; i < sets.Count; i++)
            {
                for (int k = 0; k < scores[i].Length; k++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"\"{sets[i].Name.Replace("\"", "\"\"", StringComparison.Ordinal)}\",{k},{scores[i][k]:R}\n");
                }
            }

            ReproduceExperiment.WriteAtomically(csv, text.ToString());
            console.WriteLine($"Wrote {scores.Sum(s => s.Length)} scores to {csv}.");
        }

        return results;
    }

    // Linear interpolation between order statistics of a sorted sample.
    private static double Quantile(double[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }

    private static string F(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
