namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood latents</c>: experiment 2 (<see cref="LatentsExperiment"/>); in a reproduce run it reuses the baseline's trained flows.</summary>
internal sealed class LatentsDefinition() : Experiment<LatentsOptions, LatentsReport>("latents", "Experiment 2: latents", LatentsExperiment.Run, r => new([.. ReproduceExperiment.LatentFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiment 2 (paper Sec. 5): Glow and RealNVP on Fashion-MNIST; latents of a Fashion-MNIST and an MNIST image at pixel positions, one draw and the mean of 40, RealNVP also with BatchNorm batch statistics; writes latents.md.";

    protected override VerbTexts Texts => new(
        Quick: "the baseline's compact RealNVP 60 steps and small Glow 300 steps, 64 images per step, 20000 training images: minutes on 2 cores",
        Standard: "the baseline's standard models (RealNVP 320 steps, Glow 1500 steps), bf16 where the CPU has it; time not measured",
        Full: "the baseline's full models, 3000 steps each, all 60000 training images; time not measured",
        Outputs: "the latent grids (PNG and SVG) and latents.md")
    {
        EvaluationLimit = null
    };

    protected override OptionsBinder<LatentsOptions> Bind(System.Collections.Generic.List<System.CommandLine.Option> own)
    {
        var draws = CliApp.Positive("--draws", "dequantization draws averaged (the paper: 40)", 40);
        own.Add(draws);
        return (p, folder) => new LatentsOptions { OutputDirectory = folder, Draws = p.GetValue(draws) };
    }

    // In a reproduce run at the budget's sizes: the baseline's models, steps and training images, so that the shared cache
    // (or the run's model files) has them.
    protected override LatentsOptions OptionsFor(ReproduceContext context)
    {
        var (budget, folder) = (context.Options.Budget, context.Options.OutputDirectory);
        var shared = context.Options.Overrides is null;
        return context.Prepare(
            Verb,
            new LatentsOptions
            {
                OutputDirectory = folder,
                Cache = context.Cache,
                Models = shared ? BaselineExperiment.Models(budget) : null,
                TrainImages = shared ? new BaselineOptions { OutputDirectory = folder, Budget = budget }.EffectiveTrainImages : null,
            },
            "; the baseline's trained models");
    }
}
