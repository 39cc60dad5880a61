using System.CommandLine;
using System.IO;
using System.Linq;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood generalise</c>: which OOD scores generalise (<see cref="GeneraliseExperiment"/>).</summary>
internal sealed class GeneraliseDefinition : Experiment<GeneraliseOptions, GeneraliseReport>
{
    public override string Verb => "generalise";

    public override string Title => "Which scores generalise";

    public override string Description => "Which OOD scores generalise: every candidate score chosen between on in-distribution-derived validation sets only, then reported on MNIST, synthetic shifts and --ood folders over several seeds with bootstrap intervals; writes generalise.md.";

    public override Command Command(TextWriter output, bool plain)
    {
        var switches = new ExperimentSwitches(
            "the baseline's small Glow 600 steps and a local flow 600 steps per seed, 1000 images per set",
            "the baseline's standard Glow 1500 steps and a local flow 600 steps per seed, 3 seeds, 2000 images per set: about 24 min on 2 cores (estimated)",
            "the baseline's full models, 3000 steps, local flow 3000 steps, 2000 images per set; time not measured",
            "generalise.md",
            steps: "training steps of the full flow (overrides the budget)",
            trainImages: "Fashion-MNIST training images (overrides the budget; at most 50000)");
        var seeds = CliApp.OptionalPositive("--seeds", "seeds of the report (default 3; the selection uses the first)");
        var localSteps = CliApp.OptionalPositive("--local-steps", "training steps of the local flow (overrides the budget)");
        var model = new Option<string>("--model") { Description = "the full flow: glow (default), realnvp, or autoregressive (the local model's family with a wide context)", DefaultValueFactory = _ => "glow" };
        model.AcceptOnlyFromAmong("glow", "realnvp", "autoregressive");
        var local = new Option<string>("--local") { Description = "the local model: autoregressive (default; one masked 7×7 convolution) or flow (4 checkerboard couplings on 3×3 windows)", DefaultValueFactory = _ => "autoregressive" };
        local.AcceptOnlyFromAmong("autoregressive", "flow");
        var candidates = new Option<string[]>("--candidates") { Description = "candidate keys to run (NLL, the cost reference, always runs); default every candidate", AllowMultipleArgumentsPerToken = true };
        candidates.AcceptOnlyFromAmong([.. Candidates.All.Select(c => c.Key)]);
        var rotationSteps = CliApp.OptionalPositive("--rotation-steps", "Adam steps of the rotation-prediction network (default the library's, 1500)");
        var ood = CliApp.OodOption();
        ood.DefaultValueFactory = _ => GeneraliseOptions.ReportSets;
        return VerbCommand(switches, output, plain, (p, folder) => new GeneraliseOptions
        {
            OutputDirectory = folder,
            Seeds = p.GetValue(seeds) ?? 3,
            LocalSteps = p.GetValue(localSteps),
            Model = p.GetValue(model)!,
            Local = p.GetValue(local)!,
            Candidates = p.GetValue(candidates) is { Length: > 0 } keys ? keys : null,
            RotationSteps = p.GetValue(rotationSteps),
            OodSets = p.GetValue(ood)!,
        }, seeds, localSteps, model, local, candidates, rotationSteps, ood);
    }

    protected override GeneraliseReport Execute(GeneraliseOptions options, IAnsiConsole console, bool plain) => GeneraliseExperiment.Run(options, console, plain);

    protected override ExperimentResult Outcome(GeneraliseReport report) => new([.. ReproduceExperiment.GeneraliseFindings(report)], report.MarkdownPath, report.Elapsed);

    protected override GeneraliseOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new GeneraliseOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache }, "; the baseline's trained Glow");
}
