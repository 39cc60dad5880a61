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

/// <summary>
/// An experiment whose verb binds its options to <typeparamref name="TOptions"/> and whose run gives a
/// <typeparamref name="TReport"/>: the contract's plumbing (the verb's action, the reproduce run's options) in one place,
/// so that a definition says only what is its own.
/// </summary>
internal abstract class Experiment<TOptions, TReport> : IExperiment
    where TOptions : ExperimentOptions
{
    public abstract string Verb { get; }

    public abstract string Title { get; }

    public abstract string Description { get; }

    public abstract Command Command(TextWriter output, bool plain);

    public virtual bool RunsIn(ReproduceOptions options) => true;

    /// <summary>Runs the experiment with <paramref name="options"/>: its report, findings and fragment.</summary>
    public ExperimentResult Run(TOptions options, IAnsiConsole console, bool plain)
    {
        var report = Execute(options, console, plain);
        return Outcome(report) with { Report = report };
    }

    public ExperimentResult Reproduce(ReproduceContext context, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Run(context.Apply(OptionsFor(context)), console, plain);
    }

    /// <summary>Runs the experiment (its own class does the work).</summary>
    protected abstract TReport Execute(TOptions options, IAnsiConsole console, bool plain);

    /// <summary>The findings, fragment and wall time of <paramref name="report"/>.</summary>
    protected abstract ExperimentResult Outcome(TReport report);

    /// <summary>The options of a reproduce run, before the run's overrides (<see cref="ReproduceContext.Prepare{T}"/> fills the shared ones).</summary>
    protected abstract TOptions OptionsFor(ReproduceContext context);

    /// <summary>The verb from <paramref name="switches"/> and <paramref name="own"/> options; its action binds them with <paramref name="bind"/> and runs.</summary>
    protected Command VerbCommand(ExperimentSwitches switches, TextWriter output, bool plain, Func<System.CommandLine.ParseResult, string, TOptions> bind, params Option[] own)
    {
        ArgumentNullException.ThrowIfNull(switches);
        ArgumentNullException.ThrowIfNull(bind);
        var command = switches.Command(Verb, Description, own);
        command.SetAction(p =>
        {
            Run(switches.Bind(p, bind(p, switches.Out(p))), Terminal.Create(output, plain), plain);
            return CliApp.Success;
        });
        return command;
    }
}
