using System.Collections.Generic;
using System.CommandLine;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood biases</c>: experiment 4 (<see cref="BiasesExperiment"/>).</summary>
internal sealed class BiasesDefinition()
    : Experiment<BiasesOptions, BiasesReport>("biases", "Experiment 4: changing the biases", BiasesExperiment.Run, r => new([.. ReproduceExperiment.BiasFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description =>
        "Experiment 4 (paper Sec. 7): checkerboard vs cycle-mask vs horizontal masks, and the auto-encoder st-network without and with an l-bottleneck, "
        + "at equal budget and at matched held-out bits/dim, over seeds with bootstrap intervals; finished models are saved in OUT/biases-runs/ and reused "
        + "when the run is repeated; writes biases.md.";

    protected override VerbTexts Texts => new(
        Quick: "8-coupling single-scale RealNVPs with a width 16 × 1 block ResNet st-network (checkerboard, cycle-mask, horizontal) or the auto-encoder st-network "
            + "(no bottleneck; l = 10, 20, 50); 60 steps × 64 images, 1 seed, 20000 training images, 200 images per evaluation set: minutes on 2 cores",
        Standard: "the official code's sizes (ResNet width 32 × 2 blocks; auto-encoder without a bottleneck and l = 20), 375 steps × 64 images (24,000 seen), "
            + "3 seeds, bf16 where the CPU has it, 2000 images per set",
        Full: "the paper's width 64 × 8 blocks st-network, l = 10, 20, 50, 100, 3000 steps, 3 seeds, 50000 training images, 2000 images per set; time not measured",
        Outputs: "the AUROC-vs-bits/dim plot, the matched-AUROC bar chart (PNG and SVG), a training curve per model and seed, biases-runs/ and biases.md")
    {
        EvaluationLimit = "images per evaluation set: held-out Fashion-MNIST, Fashion-MNIST test, MNIST, each synthetic set (overrides the budget)",
        Steps = "training steps of every model (overrides the budget)",
        TrainImages = "Fashion-MNIST training images, at most 50000: held-out images come from index 50000 on (overrides the budget)",
    };

    protected override OptionsBinder<BiasesOptions> Bind(List<Option> own)
    {
        var latentSizes = new Option<string?>("--latent-sizes")
        {
            Description = "l of the bottleneck sweep, comma-separated distinct positive integers (default: quick 10,20,50; standard 20; full 10,20,50,100)",
        };
        latentSizes.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && BiasesExperiment.CheckLatentSizes(result.Tokens[^1].Value, out _) is { } problem)
            {
                result.AddError(problem);
            }
        });
        var seeds = CliApp.OptionalPositive("--seeds", "seeds per model: --seed, --seed + 1, … (default: quick 1; standard and full 3)");
        own.Add(latentSizes);
        own.Add(seeds);
        return (p, folder) =>
        {
            IReadOnlyList<int>? sizes = null;
            if (p.GetValue(latentSizes) is { } text)
            {
                BiasesExperiment.CheckLatentSizes(text, out var parsed);
                sizes = parsed;
            }

            return new BiasesOptions { OutputDirectory = folder, LatentSizes = sizes, Seeds = p.GetValue(seeds) };
        };
    }

    protected override BiasesOptions OptionsFor(ReproduceContext context) => context.Prepare(Verb, new BiasesOptions { OutputDirectory = context.Options.OutputDirectory });
}
