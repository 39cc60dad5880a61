using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FlowOod.Cli;

/// <summary>An AUROC on one OOD set.</summary>
internal sealed record SetAuroc(string Set, double Auroc);

/// <summary>
/// One trained model of experiment 4 at one seed: size, training time, the checkpoints (held-out bits/dim and MNIST
/// AUROC during training), the final AUROC on every synthetic set, and the final NLL scores (bits/dim) of the
/// evaluation images — Fashion-MNIST test and MNIST, the same images for every model and seed, so comparisons can be
/// bootstrapped over images in pairs; for the first seed, the latent layout (Sec. 5) on Fashion-MNIST test and MNIST.
/// </summary>
internal sealed record BiasesRun(
    string Model,
    long Seed,
    long Parameters,
    double TrainSeconds,
    IReadOnlyList<BiasesCheckpoint> Checkpoints,
    IReadOnlyList<SetAuroc> Synthetic,
    double[] InScores,
    double[] MnistScores,
    IReadOnlyList<LatentLayoutSummary>? Layout = null)
{
    /// <summary>Held-out bits/dim after the last step.</summary>
    public double FinalBitsPerDim => Checkpoints[^1].HeldOutBitsPerDim;

    /// <summary>AUROC Fashion-MNIST test vs MNIST after the last step (equal budget).</summary>
    public double FinalAuroc => Checkpoints[^1].Auroc;
}

/// <summary>
/// Keeps each finished <see cref="BiasesRun"/> in <c>biases-runs/&lt;model&gt;-seed&lt;seed&gt;.json</c> of the output
/// folder, written atomically (temporary file, then rename), so an interrupted run resumes with the models it has not
/// trained yet. A saved run is reused only when its settings text (model, budget sizes, evaluation sets, precision,
/// FlowOod version) equals the current one; an unreadable or half-written file is reported and redone.
/// </summary>
internal sealed class BiasesRunStore
{
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly string folder;

    public BiasesRunStore(string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(outputDirectory);
        folder = Path.Combine(outputDirectory, "biases-runs");
    }

    /// <summary>The saved run of <paramref name="model"/> at <paramref name="seed"/> made with <paramref name="settings"/>; null (with the reason) when there is none to reuse.</summary>
    public BiasesRun? TryLoad(string model, long seed, string settings, out string? reason)
    {
        var path = PathOf(model, seed);
        reason = null;
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var saved = JsonSerializer.Deserialize<SavedRun>(File.ReadAllText(path), Json);
            if (saved?.Run is null || saved.Run.Checkpoints.Count == 0 || saved.Run.InScores is null || saved.Run.MnistScores is null)
            {
                reason = $"{Path.GetFileName(path)} is incomplete; training again";
                return null;
            }

            if (saved.Settings != settings)
            {
                reason = $"{Path.GetFileName(path)} was made with other settings; training again";
                return null;
            }

            return saved.Run;
        }
        catch (JsonException)
        {
            reason = $"{Path.GetFileName(path)} is not a complete run file (interrupted write?); training again";
            return null;
        }
    }

    /// <summary>Saves <paramref name="run"/> atomically; returns the file.</summary>
    public string Save(BiasesRun run, string settings)
    {
        ArgumentNullException.ThrowIfNull(run);
        Directory.CreateDirectory(folder);
        var path = PathOf(run.Model, run.Seed);
        ReproduceExperiment.WriteAtomically(path, JsonSerializer.Serialize(new SavedRun(settings, run), Json));
        return path;
    }

    private string PathOf(string model, long seed) =>
        Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"{model}-seed{seed}.json"));

    private sealed record SavedRun(string Settings, BiasesRun Run);
}
