using System.Collections.Generic;
using System.CommandLine;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood scorers</c>: experiments 6 and 7 (<see cref="ScorersExperiment"/>); in a reproduce run with the background llr-select chose.</summary>
internal sealed class ScorersDefinition() : Experiment<ScorersOptions, ScorersReport>("scorers", "Experiments 6 and 7: scorers", ScorersExperiment.Run, r => new([.. ReproduceExperiment.ScorerFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiments 6 and 7: NLL, likelihood ratio, input complexity, typicality, DoSE, the recommended score (ImageDetectors' density of DoSE and rotation prediction) and WAIC on each pixel flow, and the feature-space flow; AUROC on MNIST, synthetic sets and --ood folders; writes scorers.md.";

    protected override VerbTexts Texts => new(
        Quick: "the baseline's compact RealNVP 150 steps and small Glow 600 steps, WAIC over 3 Glows, 1000 images per set",
        Standard: "the baseline's standard models (RealNVP 320 steps, Glow 1500 steps), WAIC over 3 Glows, classifier 3000 steps, 2000 images per set: about 10 min on 2 cores (estimated)",
        Full: "the baseline's full models, 3000 steps, WAIC over 5 flows each, 10000 images per set; time not measured",
        Outputs: "the ROC plots, the feature-space histogram (PNG and SVG) and scorers.md")
    {
        Steps = "training steps per flow (overrides the budget)",
        TrainImages = "Fashion-MNIST training images (overrides the budget; at most 50000)"
    };

    protected override OptionsBinder<ScorersOptions> Bind(List<Option> own)
    {
        var ensemble = CliApp.OptionalPositive("--ensemble", "flows per WAIC ensemble, for every model (1: no WAIC)");
        var background = new Option<string>("--background") { Description = "llr background: fine-tune (a copy of the flow fine-tuned on perturbed images) or scratch (a fresh flow, as Ren et al.); default: the setting llr-select chose", DefaultValueFactory = _ => LikelihoodRatioSetting.Default.FromScratch ? "scratch" : "fine-tune" };
        background.AcceptOnlyFromAmong("fine-tune", "scratch");
        var mutation = CliApp.Range("--mutation-rate", "μ of the llr background (default: the setting llr-select chose)", LikelihoodRatioSetting.Default.MutationRate, 0, 1);
        var oneSided = new Option<bool>("--one-sided") { Description = "score the likelihood ratio one-sided, as Ren et al. (default: two-sided, the setting llr-select chose)" };
        var classifierSteps = CliApp.OptionalPositive("--classifier-steps", "training steps of the small CNN of the feature-space flow (overrides the budget)");
        var rotationSteps = CliApp.OptionalPositive("--rotation-steps", "Adam steps of the rotation-prediction network of the recommended score (default the library's, 1500)");
        var ood = CliApp.OodOption(ScorersOptions.ReportSets);
        own.AddRange([ensemble, background, mutation, oneSided, classifierSteps, rotationSteps, ood]);
        return (p, folder) => new ScorersOptions
        {
            OutputDirectory = folder,
            Ensemble = p.GetValue(ensemble),
            Background = LikelihoodRatioSetting.Default with { FromScratch = p.GetValue(background) == "scratch", MutationRate = p.GetValue(mutation), TwoSided = !p.GetValue(oneSided) },
            ClassifierSteps = p.GetValue(classifierSteps),
            RotationSteps = p.GetValue(rotationSteps),
            OodSets = p.GetValue(ood)!,
        };
    }

    protected override ScorersOptions OptionsFor(ReproduceContext context)
    {
        var background = LikelihoodRatioSelectionDefinition.ChosenBackground(context);
        return context.Prepare(Verb, new ScorersOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache, Background = background }, "; the baseline's trained models");
    }
}
