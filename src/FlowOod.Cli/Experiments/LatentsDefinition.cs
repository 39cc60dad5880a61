using System.CommandLine;
using System.IO;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood latents</c>: experiment 2 (<see cref="LatentsExperiment"/>); in a reproduce run it reuses the baseline's trained flows.</summary>
internal sealed class LatentsDefinition : Experiment<LatentsOptions, LatentsReport>
{
    public override string Verb => "latents";

    public override string Title => "Experiment 2: latents";

    public override string Description => "Experiment 2 (paper Sec. 5): Glow and RealNVP on Fashion-MNIST; latents of a Fashion-MNIST and an MNIST image at pixel positions, one draw and the mean of 40, RealNVP also with BatchNorm batch statistics; writes latents.md.";

    public override Command Command(TextWriter output, bool plain)
    {
        var switches = new ExperimentSwitches(
            "the baseline's compact RealNVP 60 steps and small Glow 300 steps, 64 images per step, 20000 training images: minutes on 2 cores",
            "the baseline's standard models (RealNVP 320 steps, Glow 1500 steps), bf16 where the CPU has it; time not measured",
            "the baseline's full models, 3000 steps each, all 60000 training images; time not measured",
            "the latent grids (PNG and SVG) and latents.md",
            evaluationLimit: null);
        var draws = CliApp.Positive("--draws", "dequantization draws averaged (the paper: 40)", 40);
        return VerbCommand(switches, output, plain, (p, folder) => new LatentsOptions { OutputDirectory = folder, Draws = p.GetValue(draws) }, draws);
    }

    protected override LatentsReport Execute(LatentsOptions options, IAnsiConsole console, bool plain) => LatentsExperiment.Run(options, console, plain);

    protected override ExperimentResult Outcome(LatentsReport report) => new([.. ReproduceExperiment.LatentFindings(report)], report.MarkdownPath, report.Elapsed);

    // The baseline's models, steps and training images, so that the shared cache (or the run's model files) has them.
    protected override LatentsOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, context.Options.Overrides is null
            ? new LatentsOptions
            {
                OutputDirectory = context.Options.OutputDirectory,
                Cache = context.Cache,
                Models = BaselineExperiment.Models(context.Options.Budget),
                TrainImages = new BaselineOptions { OutputDirectory = context.Options.OutputDirectory, Budget = context.Options.Budget }.EffectiveTrainImages,
            }
            : new LatentsOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache },
            "; the baseline's trained models");
}
