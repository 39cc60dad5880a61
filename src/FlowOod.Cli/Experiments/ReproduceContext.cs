using System;
using System.Collections.Generic;
using System.Globalization;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// What the experiments of one reproduce run share: its options, the flow cache (with the run's model files), and the
/// outcomes of the experiments completed so far (run now or read from the saved state), by verb.
/// </summary>
internal sealed class ReproduceContext(ReproduceOptions options, FlowCache cache)
{
    private readonly Dictionary<string, ExperimentResult> completed = new(StringComparer.Ordinal);

    public ReproduceOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    public FlowCache Cache { get; } = cache ?? throw new ArgumentNullException(nameof(cache));

    /// <summary>The outcomes so far, by verb.</summary>
    public IReadOnlyDictionary<string, ExperimentResult> Completed => completed;

    /// <summary>Records the outcome of <paramref name="verb"/>.</summary>
    public void Complete(string verb, ExperimentResult result) => completed[verb] = result;

    /// <summary>The command line an experiment's fragment shows: the reproduce command and the verb it ran.</summary>
    public string CommandFor(string verb) =>
        string.Create(CultureInfo.InvariantCulture, $"{Options.CommandLine} (runs: flowood {verb} --budget {Options.Budget.ToString().ToLowerInvariant()} --seed {Options.Seed})");

    /// <summary>
    /// <paramref name="options"/> with the run's budget, output folder, seed, data folder, threads and the command line of
    /// <paramref name="verb"/> (followed by <paramref name="note"/>).
    /// </summary>
    public T Prepare<T>(string verb, T options, string note = "")
        where T : ExperimentOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        ExperimentOptions common = options;
        return (T)(common with
        {
            Budget = Options.Budget,
            OutputDirectory = Options.OutputDirectory,
            Seed = Options.Seed,
            DataDirectory = Options.DataDirectory,
            Threads = Options.Threads,
            CommandLine = CommandFor(verb) + note,
        });
    }

    /// <summary><paramref name="options"/> changed as the run's <see cref="ReproduceOptions.Overrides"/> say (tests).</summary>
    public T Apply<T>(T options)
        where T : ExperimentOptions =>
        Options.Overrides is { } overrides ? overrides.Apply(options) : options;
}
