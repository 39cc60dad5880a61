using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// One experiment of the tool: its verb (name, description, options and action) and its part in <c>flowood reproduce</c>
/// (run with the reproduce run's budget, seed and shared flows, giving the findings of the results page's summary and
/// the Markdown fragment the page includes). <see cref="ExperimentList.All"/> lists them; the verb table and
/// <c>reproduce</c> both loop over that list.
/// </summary>
internal interface IExperiment
{
    /// <summary>The verb, e.g. <c>baseline</c>; also the name of its saved state in a reproduce run.</summary>
    string Verb { get; }

    /// <summary>The section title of the reproduce run, e.g. "Experiment 1: baseline".</summary>
    string Title { get; }

    /// <summary>The verb's description in <c>--help</c>.</summary>
    string Description { get; }

    /// <summary>The verb with its options; its action runs the experiment, tables to <paramref name="output"/>.</summary>
    Command Command(TextWriter output, bool plain);

    /// <summary>Whether a reproduce run with <paramref name="options"/> runs this experiment.</summary>
    bool RunsIn(ReproduceOptions options);

    /// <summary>Runs the experiment as part of a reproduce run.</summary>
    ExperimentResult Reproduce(ReproduceContext context, IAnsiConsole console, bool plain);
}

/// <summary>
/// What an experiment gives the results page: its findings (the summary's rows), its Markdown fragment, its wall time,
/// how many flows it trained and reused, and notes later experiments or the page need (e.g. the likelihood ratio's chosen
/// background). <see cref="ReproduceState"/> saves all of it; <see cref="Report"/> (the experiment's own report, in
/// memory only) is null for an outcome read back from disk.
/// </summary>
internal sealed record ExperimentResult(IReadOnlyList<Finding> Findings, string MarkdownPath, TimeSpan Elapsed)
{
    /// <summary>Flows trained (or loaded from the run's model files) for this experiment.</summary>
    public int FlowsTrained { get; init; }

    /// <summary>Flows this experiment took from the run's shared cache.</summary>
    public int FlowsReused { get; init; }

    /// <summary>Named notes: <see cref="DiscussionNote"/> is placed on the page before the fragments.</summary>
    public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();

    /// <summary>The experiment's report object; null when the outcome was read from a saved state.</summary>
    public object? Report { get; init; }

    /// <summary>The note holding a page-level section that comes before the fragments.</summary>
    public const string DiscussionNote = "discussion";
}

/// <summary>The wording of an experiment verb's shared switches: what each budget runs, what <c>--out</c> receives, and the overrides' descriptions (null <see cref="EvaluationLimit"/>: no --eval-limit).</summary>
internal sealed record VerbTexts(string Quick, string Standard, string Full, string Outputs)
{
    public string? EvaluationLimit { get; init; } = "images scored per set (overrides the budget)";

    public string Steps { get; init; } = "training steps per model (overrides the budget)";

    public string TrainImages { get; init; } = "Fashion-MNIST training images (overrides the budget)";
}

/// <summary>Binds a verb's parsed options (its own ones and <c>--out</c>, <paramref name="folder"/>) to its options record; the shared switches are bound after it.</summary>
internal delegate TOptions OptionsBinder<TOptions>(ParseResult p, string folder);

/// <summary>
/// An experiment whose verb binds its options to <typeparamref name="TOptions"/> and whose run gives a
/// <typeparamref name="TReport"/>: the contract's plumbing (the verb with the shared switches and its action, the reproduce
/// run's options) in one place, so that a definition says only what is its own: its names and wording, how it runs,
/// its findings, its own options and its options in a reproduce run.
/// </summary>
/// <param name="verb">The verb.</param>
/// <param name="title">The section title of the reproduce run.</param>
/// <param name="run">Runs the experiment (its own class does the work).</param>
/// <param name="outcome">The findings, fragment and wall time of a report.</param>
internal abstract class Experiment<TOptions, TReport>(string verb, string title, Func<TOptions, IAnsiConsole, bool, TReport> run, Func<TReport, ExperimentResult> outcome) : IExperiment
    where TOptions : ExperimentOptions
{
    public string Verb { get; } = verb;

    public string Title { get; } = title;

    public abstract string Description { get; }

    /// <summary>The wording of the verb's shared switches.</summary>
    protected abstract VerbTexts Texts { get; }

    public Command Command(TextWriter output, bool plain)
    {
        var texts = Texts;
        var switches = new ExperimentSwitches(texts.Quick, texts.Standard, texts.Full, texts.Outputs, texts.EvaluationLimit, texts.Steps, texts.TrainImages);
        var own = new List<Option>();
        var bind = Bind(own);
        var command = switches.Command(Verb, Description, [.. own]);
        command.SetAction(p =>
        {
            Run(switches.Bind(p, bind(p, switches.Out(p))), Terminal.Create(output, plain), plain);
            return CliApp.Success;
        });
        return command;
    }

    public virtual bool RunsIn(ReproduceOptions options) => true;

    /// <summary>Runs the experiment with <paramref name="options"/>: its report, findings and fragment.</summary>
    public ExperimentResult Run(TOptions options, IAnsiConsole console, bool plain)
    {
        var report = run(options, console, plain);
        return outcome(report) with { Report = report };
    }

    public ExperimentResult Reproduce(ReproduceContext context, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Run(context.Apply(OptionsFor(context)), console, plain);
    }

    /// <summary>Adds the verb's own options to <paramref name="own"/> and returns how their values become its options.</summary>
    protected abstract OptionsBinder<TOptions> Bind(List<Option> own);

    /// <summary>The options of a reproduce run, before the run's overrides (<see cref="ReproduceContext.Prepare{T}"/> fills the shared ones).</summary>
    protected abstract TOptions OptionsFor(ReproduceContext context);
}
