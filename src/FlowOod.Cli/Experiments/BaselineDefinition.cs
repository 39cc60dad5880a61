namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood baseline</c>: experiment 1 (<see cref="BaselineExperiment"/>).</summary>
internal sealed class BaselineDefinition() : Experiment<BaselineOptions, BaselineReport>("baseline", "Experiment 1: baseline", BaselineExperiment.Run, r => new([.. ReproduceExperiment.BaselineFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiment 1 (paper Fig. 1): RealNVP and Glow on Fashion-MNIST; bits/dim histograms, ROC curves, sample grids at T = 1.0 and 0.7; writes baseline.md.";

    protected override VerbTexts Texts => new(
        Quick: "compact RealNVP 150 steps and a small Glow 600 steps, 64 images per step, 20000 training images, 1000 images per set: minutes on 2 cores",
        Standard: "the same models, RealNVP 320 steps and Glow 1500 steps (≥ 20000 images seen), bf16 where the CPU has it, 50000 training images, 2000 images per set: about 6 min on 2 cores (estimated)",
        Full: "RealNVP width 64 × 6 blocks and the compact Glow preset, 3000 steps each, all 60000 training images, 10000 per set; time not measured",
        Outputs: "the plots (PNG and SVG) and baseline.md");

    protected override OptionsBinder<BaselineOptions> Bind(System.Collections.Generic.List<System.CommandLine.Option> own)
    {
        var ood = CliApp.OodOption();
        own.Add(ood);
        return (p, folder) => new BaselineOptions { OutputDirectory = folder, OodSets = p.GetValue(ood)! };
    }

    protected override BaselineOptions OptionsFor(ReproduceContext context) => context.Prepare(Verb, new BaselineOptions { OutputDirectory = context.Options.OutputDirectory, Cache = context.Cache });
}
