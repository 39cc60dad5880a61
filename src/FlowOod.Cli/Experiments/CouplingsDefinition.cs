using System.CommandLine;
using System.IO;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood couplings</c>: experiment 3 (<see cref="CouplingsExperiment"/>).</summary>
internal sealed class CouplingsDefinition : Experiment<CouplingsOptions, CouplingsReport>
{
    public override string Verb => "couplings";

    public override string Title => "Experiment 3: couplings";

    public override string Description => "Experiment 3 (paper Sec. 6): s, t and output of every coupling for a Fashion-MNIST and an MNIST image, and the co-adaptation R² per layer of the 3-layer horizontal-mask RealNVP; writes couplings.md.";

    public override Command Command(TextWriter output, bool plain)
    {
        var switches = new ExperimentSwitches(
            "3-layer horizontal-mask RealNVP with a width 32 × 2 blocks st-network, 300 steps, 20000 training images, co-adaptation on 256 images per set",
            "for now the full budget's sizes; time not measured",
            "the paper's width 64 × 8 blocks, 3000 steps, 60000 training images, 2000 images per set; time not measured",
            "the coupling grids, the co-adaptation bar chart (PNG and SVG) and couplings.md",
            evaluationLimit: "images per set for the co-adaptation number (overrides the budget)",
            steps: "training steps (overrides the budget)");
        return VerbCommand(switches, output, plain, (_, folder) => new CouplingsOptions { OutputDirectory = folder });
    }

    protected override CouplingsReport Execute(CouplingsOptions options, IAnsiConsole console, bool plain) => CouplingsExperiment.Run(options, console, plain);

    protected override ExperimentResult Outcome(CouplingsReport report) => new([.. ReproduceExperiment.CouplingFindings(report)], report.MarkdownPath, report.Elapsed);

    protected override CouplingsOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new CouplingsOptions { OutputDirectory = context.Options.OutputDirectory });
}
