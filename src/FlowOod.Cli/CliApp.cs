using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using System.Linq;

namespace FlowOod.Cli;

/// <summary>
/// The <c>flowood</c> command line: verbs, options, help and errors (System.CommandLine). Exit codes: 0 success, 1 the
/// run failed (missing data, a runtime problem), 2 bad usage (unknown verb or option, bad value).
/// </summary>
internal static partial class CliApp
{
    /// <summary>Exit code of a successful run.</summary>
    public const int Success = 0;

    /// <summary>Exit code of a run that failed (data missing, native runtime not loadable, training diverged).</summary>
    public const int Failure = 1;

    /// <summary>Exit code of bad usage.</summary>
    public const int Usage = 2;

    /// <summary>
    /// Parses and runs <paramref name="args"/>; tables and messages go to <paramref name="output"/> and <paramref name="error"/>.
    /// The experiment verbs, and what <c>reproduce</c> runs, are <paramref name="experiments"/> (null: <see cref="Experiments.ExperimentList.All"/>).
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool? plain = null, IReadOnlyList<Experiments.IExperiment>? experiments = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var isPlain = plain ?? Terminal.PlainByDefault;
        var root = Build(output, error, isPlain, experiments ?? Experiments.ExperimentList.All);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                error.WriteLine($"error: {problem.Message}");
            }

            error.WriteLine($"Run 'flowood {string.Join(' ', CommandPath(parsed))} --help' for usage.".Replace("  ", " ", StringComparison.Ordinal));
            return Usage;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is FlowOodException or FileNotFoundException or DirectoryNotFoundException or IOException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"error: {e.Message}");
            return Failure;
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result?.Parent is not null; result = result.Parent as CommandResult)
        {
            names.Insert(0, result.Command.Name);
        }

        return names;
    }

    // The root is a plain command named flowood (a RootCommand takes the assembly's file name, FlowOod.Cli) with the help
    // and version options a RootCommand would add.
    private static Command Build(TextWriter output, TextWriter error, bool plain, IReadOnlyList<Experiments.IExperiment> experiments)
    {
        var root = new Command(
            "flowood",
            "flowood: normalizing flows and out-of-distribution detection (Kirichenko et al. 2020, on Fashion-MNIST). "
            + "Data: $FLOWOOD_DATA_DIR, else ~/.local/share/flowood/datasets (./build.sh data prepares it).");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Subcommands.Add(DemoCommand());
        root.Subcommands.Add(CompareCommand());
        root.Subcommands.Add(TrainCommand(output, plain));
        root.Subcommands.Add(ScoreCommand(output, plain));
        root.Subcommands.Add(EvaluateCommand(output, plain));
        root.Subcommands.Add(FitDetectorCommand(output, plain));
        root.Subcommands.Add(CalibrateCommand(output, plain));
        foreach (var experiment in experiments)
        {
            root.Subcommands.Add(experiment.Command(output, plain));
        }

        root.Subcommands.Add(ReproduceCommand(output, plain, experiments));
        root.Subcommands.Add(ImportMnistJsonCommand());
        root.Subcommands.Add(CheckRuntimeCommand(output, error));
        root.Subcommands.Add(ExportOnnxCommand(output, error));
        return root;
    }

    // Options shared by several verbs.
    internal static Option<int> Positive(string name, string description, int defaultValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) is <= 0 and var n)
            {
                result.AddError($"{name} must be a positive integer, got {n.ToString(CultureInfo.InvariantCulture)}.");
            }
        });
        return option;
    }

    internal static Option<int?> OptionalPositive(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) is <= 0 and var n)
            {
                result.AddError($"{name} must be a positive integer, got {n.ToString(CultureInfo.InvariantCulture)}.");
            }
        });
        return option;
    }

    internal static Option<double> Range(string name, string description, double defaultValue, double min, double max, bool exclusiveMin = false)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (Parsed<double>(result) is { } x && (!double.IsFinite(x) || x < min || x > max || (exclusiveMin && x == min)))
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name} must lie in {(exclusiveMin ? "(" : "[")}{min}, {max}], got {x}."));
            }
        });
        return option;
    }

    // The option's value, or null when it was not given or does not convert (System.CommandLine reports that itself).
    private static T? Parsed<T>(OptionResult result)
        where T : struct, IParsable<T>
    {
        return result.Tokens.Count > 0 && T.TryParse(result.Tokens[^1].Value, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    internal static Option<long> SeedOption() =>
        new("--seed") { Description = "seed of every initialisation, shuffle and noise", DefaultValueFactory = _ => 1 };

    internal static Option<string?> DataDirOption() =>
        new("--data-dir") { Description = "folder holding fashion-mnist/ and mnist/ (default: $FLOWOOD_DATA_DIR, else ~/.local/share/flowood/datasets)" };

    internal static Option<int> ThreadsOption()
    {
        var option = new Option<int>("--threads") { Description = "TorchSharp intra-op threads (default: libtorch's choice)" };
        option.Validators.Add(result =>
        {
            if (Parsed<int>(result) < 0)
            {
                result.AddError("--threads must be a positive integer.");
            }
        });
        return option;
    }

    internal static Option<string[]> OodOption(string[]? defaults = null)
    {
        var option = new Option<string[]>("--ood")
        {
            Description = $"OOD set, repeatable: {string.Join(", ", OodSets.BuiltIn)} (built-in), {string.Join(", ", SyntheticOodSets.Names)} "
                + "(synthetic, from Fashion-MNIST test), or a folder holding IDX files (t10k-* or train-* MNIST names)",
            DefaultValueFactory = _ => defaults ?? OodSets.Defaults,
            AllowMultipleArgumentsPerToken = false,
        };
        option.Validators.Add(result =>
        {
            foreach (var value in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (OodSets.Check(value) is { } problem)
                {
                    result.AddError(problem);
                }
            }
        });
        return option;
    }
}
