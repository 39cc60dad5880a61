using System.Collections.Generic;
using System.CommandLine;
using System.Linq;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood generalise</c>: which OOD scores generalise (<see cref="GeneraliseExperiment"/>).</summary>
internal sealed class GeneraliseDefinition() : Experiment<GeneraliseOptions, GeneraliseReport>("generalise", "Which scores generalise", GeneraliseExperiment.Run, r => new([.. ReproduceExperiment.GeneraliseFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Which OOD scores generalise: every candidate score chosen between on in-distribution-derived validation sets only, then reported on MNIST, synthetic shifts and --ood folders over several seeds with bootstrap intervals; writes generalise.md.";

    protected override VerbTexts Texts => new(
        Quick: "the baseline's small Glow 600 steps and a local flow 600 steps per seed, 1000 images per set",
        Standard: "the baseline's standard Glow 1500 steps and a local flow 600 steps per seed, 3 seeds, 2000 images per set: about 24 min on 2 cores (estimated)",
        Full: "the baseline's full models, 3000 steps, local flow 3000 steps, 2000 images per set; time not measured",
        Outputs: "generalise.md")
    {
        Steps = "training steps of the full flow (overrides the budget)",
        TrainImages = "Fashion-MNIST training images (overrides the budget; at most 50000)"
    };

    protected override OptionsBinder<GeneraliseOptions> Bind(List<Option> own)
    {
        var seeds = CliApp.OptionalPositive("--seeds", "seeds of the report (default 3; the selection uses the first)");
        var localSteps = CliApp.OptionalPositive("--local-steps", "training steps of the local flow (overrides the budget)");
        var model = new Option<string>("--model") { Description = "the full flow: glow (default), realnvp, or autoregressive (the local model's family with a wide context)", DefaultValueFactory = _ => "glow" };
        model.AcceptOnlyFromAmong("glow", "realnvp", "autoregressive");
        var local = new Option<string>("--local") { Description = "the local model: autoregressive (default; one masked 7×7 convolution) or flow (4 checkerboard couplings on 3×3 windows)", DefaultValueFactory = _ => "autoregressive" };
        local.AcceptOnlyFromAmong("autoregressive", "flow");
        var candidates = new Option<string[]>("--candidates") { Description = "candidate keys to run (NLL, the cost reference, always runs); default every candidate", AllowMultipleArgumentsPerToken = true };
        candidates.AcceptOnlyFromAmong([.. Candidates.All.Select(c => c.Key)]);
        var rotationSteps = CliApp.OptionalPositive("--rotation-steps", "Adam steps of the rotation-prediction network (default the library's, 1500)");
        var ood = CliApp.OodOption(GeneraliseOptions.ReportSets);
        own.AddRange([seeds, localSteps, model, local, candidates, rotationSteps, ood]);
        return (p, folder) => new GeneraliseOptions
        {
            OutputDirectory = folder,
            Seeds = p.GetValue(seeds) ?? 3,
            LocalSteps = p.GetValue(localSteps),
            Model = p.GetValue(model)!,
            Local = p.GetValue(local)!,
            Candidates = p.GetValue(candidates) is { Length: > 0 } keys ? keys : null,
            RotationSteps = p.GetValue(rotationSteps),
            OodSets = p.GetValue(ood)!,
        };
    }

    protected override GeneraliseOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new GeneraliseOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache }, "; the baseline's trained Glow");
}
