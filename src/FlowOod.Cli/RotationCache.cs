using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using FlowOod.Data;
using FlowOod.Scoring;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// The rotation-prediction networks of one <c>flowood generalise</c> run, one per training set and seed, trained on first
/// use and disposed with the cache.
/// </summary>
internal sealed class RotationCache(IAnsiConsole console) : IDisposable
{
    private readonly Dictionary<string, RotationPredictionScorer> scorers = [];

    /// <summary>The network trained on all of <paramref name="train"/> with <paramref name="seed"/> (initial weights and batch order).</summary>
    public RotationPredictionScorer GetOrTrain(ImageDataset train, long seed, int? steps)
    {
        var options = new RotationPredictionOptions { Seed = seed };
        options = steps is { } s ? options with { Steps = s } : options;
        var key = string.Create(CultureInfo.InvariantCulture, $"{train.Name}|{train.Count}|{seed}|{options.Steps}");
        if (scorers.TryGetValue(key, out var found))
        {
            return found;
        }

        var clock = Stopwatch.StartNew();
        using var images = train.ToTensor(0, train.Count);
        random.manual_seed(seed); // the tool owns its process: initial weights from the seed (see FlowCache.Build)
        var scorer = RotationPredictionScorer.Train(images, options);
        scorers[key] = scorer;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained the rotation-prediction network ({options.Steps} steps × {options.BatchSize} images × 4 rotations on {train.Count} images of {train.Name}, seed {seed}) in {clock.Elapsed.TotalSeconds:F0} s."));
        return scorer;
    }

    public void Dispose()
    {
        foreach (var scorer in scorers.Values)
        {
            scorer.Dispose();
        }

        scorers.Clear();
    }
}
