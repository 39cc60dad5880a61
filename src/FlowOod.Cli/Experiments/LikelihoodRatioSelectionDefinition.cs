using System.Collections.Generic;
using System.CommandLine;
using System.Text.Json;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// <c>flowood llr-select</c> (<see cref="LikelihoodRatioSelection"/>): in a reproduce run (unless <c>--no-selection</c>)
/// its chosen background goes to the scorers and its discussion to the page.
/// </summary>
internal sealed class LikelihoodRatioSelectionDefinition() : Experiment<LikelihoodRatioSelectionOptions, SelectionReport>("llr-select", "Choosing the likelihood ratio's background", LikelihoodRatioSelection.Run, Outcome)
{
    /// <summary>The note holding the chosen <see cref="LikelihoodRatioSetting"/> as JSON.</summary>
    public const string BackgroundNote = "background";

    public override string Description => "Chooses the likelihood ratio's background (fine-tuned or from scratch, μ, one- or two-sided) on validation sets only: vertically flipped and blurred held-out Fashion-MNIST training images.";

    protected override VerbTexts Texts => new(
        Quick: "the baseline's small Glow, 600 steps, and each background as many, 1000 validation images per set",
        Standard: "the baseline's standard Glow, 1500 steps, each background as many, 2000 validation images per set: about 6 min on 2 cores (estimated)",
        Full: "the baseline's full models, 3000 steps, 2000 validation images per set; time not measured",
        Outputs: "llr-select.md")
    {
        EvaluationLimit = "validation images per set, at most 4000 (overrides the budget)",
        Steps = "training steps of the flow and of each background (overrides the budget)",
        TrainImages = "Fashion-MNIST training images (overrides the budget; at most 50000)"
    };

    /// <summary>The background the run's llr-select chose, or <see cref="LikelihoodRatioSetting.Default"/> when it did not run.</summary>
    public static LikelihoodRatioSetting ChosenBackground(ReproduceContext context)
    {
        System.ArgumentNullException.ThrowIfNull(context);
        return context.Completed.TryGetValue("llr-select", out var selection) && selection.Notes.TryGetValue(BackgroundNote, out var json)
            ? JsonSerializer.Deserialize<LikelihoodRatioSetting>(json) ?? LikelihoodRatioSetting.Default
            : LikelihoodRatioSetting.Default;
    }

    public override bool RunsIn(ReproduceOptions options) => options.SelectBackground;

    protected override OptionsBinder<LikelihoodRatioSelectionOptions> Bind(List<Option> own)
    {
        var flow = new Option<string>("--flow") { Description = "the baseline model whose background is chosen: glow (default) or realnvp", DefaultValueFactory = _ => "glow" };
        flow.AcceptOnlyFromAmong("glow", "realnvp");
        own.Add(flow);
        return (p, folder) => new LikelihoodRatioSelectionOptions { OutputDirectory = folder, Flow = p.GetValue(flow)! };
    }

    protected override LikelihoodRatioSelectionOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new LikelihoodRatioSelectionOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache });

    private static ExperimentResult Outcome(SelectionReport report) => new([], report.MarkdownPath, report.Elapsed)
    {
        Notes = new Dictionary<string, string>
        {
            [BackgroundNote] = JsonSerializer.Serialize(report.Chosen),
            [ExperimentResult.DiscussionNote] = ReproduceExperiment.LikelihoodRatioDiscussion(report),
        },
    };
}
