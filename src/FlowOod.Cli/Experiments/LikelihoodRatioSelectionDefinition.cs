using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Text.Json;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// <c>flowood llr-select</c> (<see cref="LikelihoodRatioSelection"/>): in a reproduce run (unless <c>--no-selection</c>)
/// its chosen background goes to the scorers and its discussion to the page.
/// </summary>
internal sealed class LikelihoodRatioSelectionDefinition : Experiment<LikelihoodRatioSelectionOptions, SelectionReport>
{
    /// <summary>The note holding the chosen <see cref="LikelihoodRatioSetting"/> as JSON.</summary>
    public const string BackgroundNote = "background";

    public override string Verb => "llr-select";

    public override string Title => "Choosing the likelihood ratio's background";

    public override string Description => "Chooses the likelihood ratio's background (fine-tuned or from scratch, μ, one- or two-sided) on validation sets only: vertically flipped and blurred held-out Fashion-MNIST training images.";

    /// <summary>The background the run's llr-select chose, or <see cref="LikelihoodRatioSetting.Default"/> when it did not run.</summary>
    public static LikelihoodRatioSetting ChosenBackground(ReproduceContext context)
    {
        System.ArgumentNullException.ThrowIfNull(context);
        return context.Completed.TryGetValue("llr-select", out var selection) && selection.Notes.TryGetValue(BackgroundNote, out var json)
            ? JsonSerializer.Deserialize<LikelihoodRatioSetting>(json) ?? LikelihoodRatioSetting.Default
            : LikelihoodRatioSetting.Default;
    }

    public override Command Command(TextWriter output, bool plain)
    {
        var switches = new ExperimentSwitches(
            "the baseline's small Glow, 600 steps, and each background as many, 1000 validation images per set",
            "the baseline's standard Glow, 1500 steps, each background as many, 2000 validation images per set: about 6 min on 2 cores (estimated)",
            "the baseline's full models, 3000 steps, 2000 validation images per set; time not measured",
            "llr-select.md",
            evaluationLimit: "validation images per set, at most 4000 (overrides the budget)",
            steps: "training steps of the flow and of each background (overrides the budget)",
            trainImages: "Fashion-MNIST training images (overrides the budget; at most 50000)");
        var flow = new Option<string>("--flow") { Description = "the baseline model whose background is chosen: glow (default) or realnvp", DefaultValueFactory = _ => "glow" };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        return VerbCommand(switches, output, plain, (p, folder) => new LikelihoodRatioSelectionOptions { OutputDirectory = folder, Flow = p.GetValue(flow)! }, flow);
    }

    public override bool RunsIn(ReproduceOptions options) => options.SelectBackground;

    protected override SelectionReport Execute(LikelihoodRatioSelectionOptions options, IAnsiConsole console, bool plain) => LikelihoodRatioSelection.Run(options, console, plain);

    protected override ExperimentResult Outcome(SelectionReport report) => new([], report.MarkdownPath, report.Elapsed)
    {
        Notes = new Dictionary<string, string>
        {
            [BackgroundNote] = JsonSerializer.Serialize(report.Chosen),
            [ExperimentResult.DiscussionNote] = ReproduceExperiment.LikelihoodRatioDiscussion(report),
        },
    };

    protected override LikelihoodRatioSelectionOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new LikelihoodRatioSelectionOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache });
}
