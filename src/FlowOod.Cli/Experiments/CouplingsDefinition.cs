namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood couplings</c>: experiment 3 (<see cref="CouplingsExperiment"/>).</summary>
internal sealed class CouplingsDefinition() : Experiment<CouplingsOptions, CouplingsReport>("couplings", "Experiment 3: couplings", CouplingsExperiment.Run, r => new([.. ReproduceExperiment.CouplingFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiment 3 (paper Sec. 6): s, t and output of every coupling for a Fashion-MNIST and an MNIST image, and the co-adaptation R² per layer of the 3-layer horizontal-mask RealNVP; writes couplings.md.";

    protected override VerbTexts Texts => new(
        Quick: "3-layer horizontal-mask RealNVP with a width 32 × 2 blocks st-network, 300 steps, 20000 training images, co-adaptation on 256 images per set",
        Standard: "the same width 32 × 2 blocks st-network, 375 steps × 64 images (24000 seen), bf16 where the CPU has it, 2000 images per set",
        Full: "the paper's width 64 × 8 blocks, 3000 steps, 60000 training images, 2000 images per set; time not measured",
        Outputs: "the coupling grids, the co-adaptation bar chart (PNG and SVG) and couplings.md")
    {
        EvaluationLimit = "images per set for the co-adaptation number (overrides the budget)",
        Steps = "training steps (overrides the budget)"
    };

    protected override OptionsBinder<CouplingsOptions> Bind(System.Collections.Generic.List<System.CommandLine.Option> own) => (_, folder) => new CouplingsOptions
    {
        OutputDirectory = folder
    };

    protected override CouplingsOptions OptionsFor(ReproduceContext context) => context.Prepare(Verb, new CouplingsOptions { OutputDirectory = context.Options.OutputDirectory });
}
