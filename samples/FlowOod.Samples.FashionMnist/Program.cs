using System;
using System.Globalization;
using System.Linq;
using FlowOod;
using FlowOod.Data;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Samples.FashionMnist;

/// <summary>
/// The smallest end-to-end use of FlowOod: train the compact RealNVP on Fashion-MNIST, score Fashion-MNIST test and
/// MNIST by bits/dim, print the AUROC. The full demo, the scorer comparison and the experiments are verbs of the
/// <c>flowood</c> tool (src/FlowOod.Cli; <c>./build.sh demo</c>, <c>./build.sh compare</c>).
/// </summary>
/// <remarks>Usage: <c>FlowOod.Samples.FashionMnist [steps]</c> (default 200).</remarks>
internal static class Program
{
    public static int Main(string[] args)
    {
        var steps = args.Length > 0 && int.TryParse(args[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 200;
        // An application's process-wide choice, made once before the first tensor (it loads the backend first): no
        // "Could not initialize NNPACK!" line per small convolution on processors NNPACK does not know.
        FlowOodRuntime.DisableNnpack();
        FlowOodRuntime.RetainFreedMemory(); // glibc keeps freed memory for the next tensor (getting-started §9)
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train);
        var test = FlowOodDatasets.FashionMnist(DatasetSplit.Test);
        var mnist = FlowOodDatasets.Mnist(DatasetSplit.Test);

        random.manual_seed(1);
        using var flow = RealNvp.Create([1, 28, 28], RealNvpOptions.Compact);
        using (var images = train.ToTensor(0, 20_000))
        {
            var result = new FlowTrainer(flow, new TrainingOptions { Steps = steps, BatchSize = 64, Seed = 1 }).Train(images);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Trained {result.Steps} steps, final loss {result.FinalLoss:F3} bits/dim."));
        }

        using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim);
        using var inImages = test.ToTensor(0, 2000);
        using var oodImages = mnist.ToTensor(0, 2000);
        var inScores = scorer.Score(inImages);
        var oodScores = scorer.Score(oodImages);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Mean bits/dim: Fashion-MNIST test {inScores.Average():F3}, MNIST {oodScores.Average():F3}; likelihood AUROC {OodMetrics.Auroc(inScores, oodScores):F3} (below 0.5: MNIST looks more likely)."));
        return 0;
    }
}
