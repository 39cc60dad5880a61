using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;

namespace FlowOod.Cli;

/// <summary>
/// The switches the experiment verbs share (the verbs themselves are <see cref="Experiments.ExperimentList.All"/>) and
/// <c>reproduce</c>, which runs them all.
/// </summary>
internal static partial class CliApp
{
    internal static Option<Budget> BudgetOption(string quick, string standard, string full) =>
        new("--budget") { Description = $"quick ({quick}; default), standard ({standard}) or full ({full})", DefaultValueFactory = _ => Budget.Quick };

    internal static Option<string> OutOption(string what) =>
        new("--out") { Description = $"folder for {what}", Required = true };

    internal static string CommandLineOf(ParseResult p) =>
        "flowood " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ', StringComparison.Ordinal) ? $"\"{t.Value}\"" : t.Value));

    private static Command ReproduceCommand(TextWriter output, bool plain, IReadOnlyList<Experiments.IExperiment> experiments)
    {
        var budget = BudgetOption(
            "every experiment at its quick budget, the baseline's flows shared: 19.5 min measured on 2 cores",
            "every experiment at its standard budget: at least 20000 images seen per model, bf16 where the CPU has it, 2000 images per set, 3 seeds where an experiment takes seeds; about 2 h on 2 cores (estimated)",
            "every experiment at its full budget; time not measured");
        var outDir = OutOption("every plot and experiment fragment, the saved state of each completed experiment (reproduce-state/) and the trained flows (models/): a rerun into the same folder with the same budget and seed resumes");
        var page = new Option<string?>("--page") { Description = "the results page to write (default: results.md in --out); its links are relative to its folder" };
        var seed = SeedOption();
        var skipSelection = new Option<bool>("--no-selection") { Description = "skip llr-select (six background trainings, about 4 min at the quick budget) and use the scorers' default background" };
        var fresh = new Option<bool>("--fresh") { Description = "ignore the saved state and trained flows of an earlier run in --out (by default a rerun with the same budget and seed reuses every completed experiment and trained flow)" };
        var dataDir = DataDirOption();
        var threads = ThreadsOption();
        var verbs = string.Join(", ", experiments.Select(e => e.Verb));
        var command = new Command("reproduce", $"Runs every experiment ({verbs}) and writes the results page with every plot; resumes an interrupted run in the same --out.")
        {
            budget, outDir, page, seed, skipSelection, fresh, dataDir, threads,
        };
        command.SetAction(p =>
        {
            ReproduceExperiment.Run(
                new ReproduceOptions
                {
                    Budget = p.GetValue(budget),
                    OutputDirectory = p.GetValue(outDir)!,
                    PagePath = p.GetValue(page),
                    Seed = p.GetValue(seed),
                    SelectBackground = !p.GetValue(skipSelection),
                    Fresh = p.GetValue(fresh),
                    DataDirectory = p.GetValue(dataDir),
                    Threads = p.GetValue(threads),
                    CommandLine = CommandLineOf(p),
                },
                experiments,
                Terminal.Create(output, plain),
                plain);
            return Success;
        });
        return command;
    }
}
