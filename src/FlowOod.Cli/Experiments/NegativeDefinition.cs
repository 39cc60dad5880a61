namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood negative</c>: experiment 5 (<see cref="NegativeExperiment"/>).</summary>
internal sealed class NegativeDefinition() : Experiment<NegativeOptions, NegativeReport>("negative", "Experiment 5: negative training", NegativeExperiment.Run, r => new([.. ReproduceExperiment.NegativeFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiment 5 (paper App. B): maximum likelihood vs negative training with MNIST digits 0-4999 as negatives; AUROC on held-out MNIST digits and synthetic sets; writes negative.md.";

    protected override VerbTexts Texts => new(
        Quick: "the baseline's small Glow, 400 steps per model, 64 images per step, 20000 training images, 2000 images per set: a few minutes on 2 cores",
        Standard: "the same Glow, 1500 steps per model (96000 images seen), 50000 training images, 2000 images per set: about 4 min on 2 cores (estimated)",
        Full: "the compact Glow preset, 3000 steps, all 60000 training images, 5000 held-out MNIST digits and 10000 images per other set; time not measured",
        Outputs: "the histograms, ROC curves (PNG and SVG) and negative.md")
    {
        EvaluationLimit = "images scored per set, at most 5000 of held-out MNIST (overrides the budget)",
        Steps = "training steps of each model (overrides the budget)"
    };

    protected override OptionsBinder<NegativeOptions> Bind(System.Collections.Generic.List<System.CommandLine.Option> own)
    {
        var bound = CliApp.Range("--bound", "a negative counts only while its loss is below this many bits/dim (default: the paper's 30000 nats per 28×28 image)", FlowOod.Training.NegativeTrainingOptions.PaperBoundBitsPerDim, 0, 1e6, exclusiveMin: true);
        own.Add(bound);
        return (p, folder) => new NegativeOptions { OutputDirectory = folder, BoundBitsPerDim = p.GetValue(bound) };
    }

    protected override NegativeOptions OptionsFor(ReproduceContext context) => context.Prepare(Verb, new NegativeOptions { OutputDirectory = context.Options.OutputDirectory });
}
