using System.CommandLine;
using System.IO;
using Spectre.Console;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood negative</c>: experiment 5 (<see cref="NegativeExperiment"/>).</summary>
internal sealed class NegativeDefinition : Experiment<NegativeOptions, NegativeReport>
{
    public override string Verb => "negative";

    public override string Title => "Experiment 5: negative training";

    public override string Description => "Experiment 5 (paper App. B): maximum likelihood vs negative training with MNIST digits 0-4999 as negatives; AUROC on held-out MNIST digits and synthetic sets; writes negative.md.";

    public override Command Command(TextWriter output, bool plain)
    {
        var switches = new ExperimentSwitches(
            "the baseline's small Glow, 400 steps per model, 64 images per step, 20000 training images, 2000 images per set: a few minutes on 2 cores",
            "the same Glow, 1500 steps per model (96000 images seen), 50000 training images, 2000 images per set: about 4 min on 2 cores (estimated)",
            "the compact Glow preset, 3000 steps, all 60000 training images, 5000 held-out MNIST digits and 10000 images per other set; time not measured",
            "the histograms, ROC curves (PNG and SVG) and negative.md",
            evaluationLimit: "images scored per set, at most 5000 of held-out MNIST (overrides the budget)",
            steps: "training steps of each model (overrides the budget)");
        var bound = CliApp.Range("--bound", "a negative counts only while its loss is below this many bits/dim (default: the paper's 30000 nats per 28×28 image)",
            FlowOod.Training.NegativeTrainingOptions.PaperBoundBitsPerDim, 0, 1e6, exclusiveMin: true);
        return VerbCommand(switches, output, plain, (p, folder) => new NegativeOptions { OutputDirectory = folder, BoundBitsPerDim = p.GetValue(bound) }, bound);
    }

    protected override NegativeReport Execute(NegativeOptions options, IAnsiConsole console, bool plain) => NegativeExperiment.Run(options, console, plain);

    protected override ExperimentResult Outcome(NegativeReport report) => new([.. ReproduceExperiment.NegativeFindings(report)], report.MarkdownPath, report.Elapsed);

    protected override NegativeOptions OptionsFor(ReproduceContext context) =>
        context.Prepare(Verb, new NegativeOptions { OutputDirectory = context.Options.OutputDirectory });
}
