using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using FlowOod.Persistence;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// The saved outcomes of a reproduce run: one JSON file per experiment in <c>reproduce-state/</c> of the output folder
/// (findings, fragment, wall time, flows trained and reused, notes), written atomically (temporary file + rename) as soon
/// as the experiment completes, together with what it was run for: FlowOod version, budget, seed, whether the run's sizes
/// were the budget's or a test's overrides, and whether llr-select ran. A rerun reuses an outcome only when all of these
/// match and its fragment is still there; anything else (another seed, a truncated file) is said and the experiment runs again.
/// </summary>
internal sealed class ReproduceState(string outputDirectory, ReproduceOptions options)
{
    /// <summary>The format of the state files.</summary>
    public const int Format = 1;

    /// <summary>The state folder's name inside the output folder.</summary>
    public const string FolderName = "reproduce-state";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The state folder.</summary>
    public string Folder { get; } = Path.Combine(outputDirectory, FolderName);

    /// <summary>The state file of <paramref name="verb"/>.</summary>
    public string PathOf(string verb) => Path.Combine(Folder, verb + ".json");

    /// <summary>Saves <paramref name="result"/> as the outcome of <paramref name="verb"/>.</summary>
    public void Save(string verb, ExperimentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Directory.CreateDirectory(Folder);
        var record = new Record(
            Format, verb, ModelFile.LibraryVersion, Budget, options.Seed, Sizes, options.SelectBackground,
            [.. result.Findings], Path.GetRelativePath(outputDirectory, result.MarkdownPath).Replace('\\', '/'),
            result.Elapsed.TotalSeconds, result.FlowsTrained, result.FlowsReused, new Dictionary<string, string>(result.Notes));
        ReproduceExperiment.WriteAtomically(PathOf(verb), JsonSerializer.Serialize(record, Json));
    }

    /// <summary>
    /// The saved outcome of <paramref name="verb"/> when it was made for this run's version, budget, seed and sizes and its
    /// fragment exists; otherwise null, with the reason on <paramref name="console"/> when a state file was there.
    /// </summary>
    public ExperimentResult? TryLoad(string verb, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var path = PathOf(verb);
        if (!File.Exists(path))
        {
            return null;
        }

        Record? saved;
        try
        {
            saved = JsonSerializer.Deserialize<Record>(File.ReadAllText(path), Json);
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            console.WriteLine($"The saved state of {verb} ({path}) does not read ({e.Message}); running it again.");
            return null;
        }

        var problem = saved switch
        {
            null or { Findings: null } or { Markdown: null } or { Notes: null } => "is incomplete",
            _ when saved.Format != Format || saved.Verb != verb => "is of another format",
            _ when saved.Version != ModelFile.LibraryVersion => $"was made by FlowOod {saved.Version}, this is {ModelFile.LibraryVersion}",
            _ when saved.Budget != Budget || saved.Seed != options.Seed => string.Create(CultureInfo.InvariantCulture, $"is for budget {saved.Budget}, seed {saved.Seed}; this run is budget {Budget}, seed {options.Seed}"),
            _ when saved.Sizes != Sizes => $"was made with {saved.Sizes}, this run uses {Sizes}",
            _ when saved.SelectBackground != options.SelectBackground => "was made with another --no-selection",
            _ when !File.Exists(Path.Combine(outputDirectory, saved.Markdown)) => $"names the fragment {saved.Markdown}, which is missing",
            _ => null,
        };
        if (problem is not null)
        {
            console.WriteLine($"The saved state of {verb} {problem}: running it afresh.");
            return null;
        }

        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Reusing the saved outcome of {verb} ({path}: budget {saved!.Budget}, seed {saved.Seed}, {saved.ElapsedSeconds:F0} s when it ran); not running it again."));
        return new ExperimentResult(saved.Findings!, Path.Combine(outputDirectory, saved.Markdown!), TimeSpan.FromSeconds(saved.ElapsedSeconds))
        {
            FlowsTrained = saved.FlowsTrained,
            FlowsReused = saved.FlowsReused,
            Notes = saved.Notes!,
        };
    }

    private string Budget => options.Budget.ToString().ToLowerInvariant();

    private string Sizes => options.Overrides is null ? "the budget's sizes" : "test overrides";

    private sealed record Record(
        int Format,
        string Verb,
        string Version,
        string Budget,
        long Seed,
        string Sizes,
        bool SelectBackground,
        List<Finding>? Findings,
        string? Markdown,
        double ElapsedSeconds,
        int FlowsTrained,
        int FlowsReused,
        Dictionary<string, string>? Notes);
}
