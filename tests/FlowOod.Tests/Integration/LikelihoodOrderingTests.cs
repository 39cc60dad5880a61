using System;
using System.Linq;
using FlowOod.Data;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Samples.FashionMnist;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Integration;

// The paper's headline effect on the real data with a tiny budget: a RealNVP trained briefly on Fashion-MNIST already
// gives MNIST digits higher likelihood (fewer bits/dim) than held-out Fashion-MNIST images.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LikelihoodOrderingTests
{
    [Fact]
    public void RealNvp_TrainedBrieflyOnFashionMnist_FindsMnistMoreLikely()
    {
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train).Take(4096);
        var fashionTest = FlowOodDatasets.FashionMnist(DatasetSplit.Test).Take(500);
        var mnist = FlowOodDatasets.Mnist(DatasetSplit.Test).Take(500);

        using var scope = NewDisposeScope();
        random.manual_seed(7);
        var flow = RealNvp.Create(new long[] { 1, 28, 28 }, new RealNvpOptions { Scales = 2, Width = 16, Blocks = 1 });
        var result = new FlowTrainer(flow, new TrainingOptions { Steps = 60, BatchSize = 32, Seed = 7 })
            .Train(train.ToTensor(0, train.Count), cancellationToken: TestContext.Current.CancellationToken);

        var scorer = new NegativeLogLikelihoodScorer(flow);
        var inScores = scorer.Score(fashionTest.ToTensor(0, fashionTest.Count));
        var oodScores = scorer.Score(mnist.ToTensor(0, mnist.Count));

        result.FinalLoss.Should().BeLessThan(6.5, "60 steps take a fresh flow from ~8 bits/dim well below that");
        inScores.Concat(oodScores).Should().OnlyContain(s => double.IsFinite(s));
        oodScores.Average().Should().BeLessThan(inScores.Average(), "MNIST digits get more likelihood than Fashion-MNIST test images");
        OodMetrics.Auroc(inScores, oodScores).Should().BeLessThan(0.5);
    }
}
