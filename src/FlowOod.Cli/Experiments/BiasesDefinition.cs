using System.Collections.Generic;
using System.CommandLine;

namespace FlowOod.Cli.Experiments;

/// <summary><c>flowood biases</c>: experiment 4 (<see cref="BiasesExperiment"/>).</summary>
internal sealed class BiasesDefinition() : Experiment<BiasesOptions, BiasesReport>("biases", "Experiment 4: changing the biases", BiasesExperiment.Run, r => new([.. ReproduceExperiment.BiasFindings(r)], r.MarkdownPath, r.Elapsed))
{
    public override string Description => "Experiment 4 (paper Sec. 7): checkerboard vs cycle-mask vs horizontal masks and an l-bottleneck sweep at equal budget and at matched held-out bits/dim; AUROC vs bits/dim plot; writes biases.md.";

    protected override VerbTexts Texts => new(Quick: "8-coupling single-scale RealNVPs: checkerboard, cycle-mask, horizontal with a width 16 × 1 block ResNet st-network, and checkerboard with the auto-encoder l-bottleneck st-network for l = 10, 20, 50; 60 steps × 64 images each, 20000 training images, 200 images per evaluation set: minutes on 2 cores", Standard: "for now the full budget's sizes; time not measured", Full: "the paper's width 64 × 8 blocks st-network, l = 10, 20, 50, 100, 3000 steps, 50000 training images, 2000 images per set; time not measured", Outputs: "the AUROC-vs-bits/dim plot, the matched-AUROC bar chart (PNG and SVG) and biases.md") { EvaluationLimit = "images per evaluation set: held-out Fashion-MNIST, Fashion-MNIST test, MNIST, each synthetic set (overrides the budget)", Steps = "training steps of every model (overrides the budget)", TrainImages = "Fashion-MNIST training images, at most 50000: held-out images come from index 50000 on (overrides the budget)" }; protected override OptionsBinder<BiasesOptions> Bind(List<Option> own) { var latentSizes = new Option<string?>("--latent-sizes") { Description = "l of the bottleneck sweep, comma-separated distinct positive integers (default: quick 10,20,50; full 10,20,50,100)" }; latentSizes.Validators.Add(result => { if (result.Tokens.Count > 0 && BiasesExperiment.CheckLatentSizes(result.Tokens[^1].Value, out _) is { } problem) { result.AddError(problem);
            }
        });
        own.Add(latentSizes);
        return (p, folder) =>
        {
            IReadOnlyList<int>? sizes = null;
            if (p.GetValue(latentSizes) is { } text)
            {
                BiasesExperiment.CheckLatentSizes(text, out var parsed);
                sizes = parsed;
            }

            return new BiasesOptions { OutputDirectory = folder, LatentSizes = sizes };
        };
    }

    protected override BiasesOptions OptionsFor(ReproduceContext context) => context.Prepare(Verb, new BiasesOptions { OutputDirectory = context.Options.OutputDirectory });
}
