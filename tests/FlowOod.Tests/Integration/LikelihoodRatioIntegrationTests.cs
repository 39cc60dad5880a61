using System.Globalization;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Data;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Integration;

// The corrected likelihood scores on the real data with a small budget. A tiny Glow trained briefly on Fashion-MNIST
// gives MNIST digits higher likelihood (raw NLL AUROC ≈ 0.1); Serrà et al.'s input complexity fixes that robustly
// (AUROC 0.99 in every run measured). Ren et al.'s likelihood ratio with a pixel-perturbed background flow is scored
// and reported here but NOT asserted to beat raw likelihood: at this budget its AUROC depends on the seed far more
// than on μ. Measured (Glow Tiny, 4096 training images, batch 32, 500 vs 500 test images, one torch thread):
//   lr 3e-3, 300 steps, seeds 1/2/3: NLL 0.137/0.106/0.111; LLR μ=0.05 0.932/0.521/0.180, μ=0.1 0.869/0.526/0.330.
//   lr 1e-3, 600 steps, seeds 1/2/3: NLL 0.134/0.114/0.122; LLR μ=0.05 0.910/0.611/0.361, μ=0.1 0.826/0.571/0.500.
// Larger flows (2×4 Glow steps, RealNVP) fit better and give lower LLR AUROCs (0.24-0.58); weight decay 10 on the
// background lowered it too. The perturbed background cannot model the flat black regions as sharply as the
// foreground, and MNIST has more of them, which works against the semantic part of the ratio.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LikelihoodRatioIntegrationTests
{
    private static readonly long[] Shape = [1, 28, 28];

    [Fact]
    public void InputComplexity_TinyGlowOnFashionMnist_BeatsRawLikelihoodOnMnistAndLikelihoodRatioIsReported()
    {
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train).Take(4096);
        var fashionTest = FlowOodDatasets.FashionMnist(DatasetSplit.Test).Take(500);
        var mnist = FlowOodDatasets.Mnist(DatasetSplit.Test).Take(500);
        var cancellation = TestContext.Current.CancellationToken;
        using var scope = NewDisposeScope();
        var data = train.ToTensor(0, train.Count);
        var inBatch = fashionTest.ToTensor(0, fashionTest.Count);
        var oodBatch = mnist.ToTensor(0, mnist.Count);
        var options = new TrainingOptions { Steps = 300, BatchSize = 32, LearningRate = 3e-3, Seed = 1 };

        random.manual_seed(1);
        var foreground = Glow.Create(Shape, GlowOptions.Tiny);
        ActNorm.InitializeAll(foreground, data.narrow(0, 0, 256));
        new FlowTrainer(foreground, options).Train(data, cancellationToken: cancellation);
        random.manual_seed(1001);
        var background = Glow.Create(Shape, GlowOptions.Tiny);
        LikelihoodRatioScorer.TrainBackground(background, data, mutationRate: 0.05, options with { Seed = 1001 }, cancellationToken: cancellation);

        var nll = Auroc(new NegativeLogLikelihoodScorer(foreground), inBatch, oodBatch, out _);
        var png = Auroc(new InputComplexityScorer(foreground), inBatch, oodBatch, out _);
        var deflate = Auroc(new InputComplexityScorer(foreground, new DeflateCompressor()), inBatch, oodBatch, out _);
        var ratio = Auroc(new LikelihoodRatioScorer(foreground, background), inBatch, oodBatch, out var ratioScores);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Fashion-MNIST vs MNIST AUROC: NLL {nll:F3}, input complexity PNG {png:F3}, deflate {deflate:F3}, likelihood ratio (μ = 0.05) {ratio:F3}"));

        nll.Should().BeLessThan(0.3, "raw likelihood prefers MNIST");
        png.Should().BeGreaterThan(0.95, $"input complexity corrects raw likelihood (NLL AUROC {nll:F3})");
        deflate.Should().BeGreaterThan(0.95, $"input complexity corrects raw likelihood (NLL AUROC {nll:F3})");
        ratioScores.Should().OnlyContain(s => double.IsFinite(s));
    }

    private static double Auroc(IOodScorer scorer, Tensor inBatch, Tensor oodBatch, out double[] all)
    {
        var inScores = scorer.Score(inBatch);
        var oodScores = scorer.Score(oodBatch);
        all = [.. inScores, .. oodScores];
        return OodMetrics.Auroc(inScores, oodScores);
    }
}
