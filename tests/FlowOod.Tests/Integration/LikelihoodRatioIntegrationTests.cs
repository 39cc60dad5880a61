using System.Globalization;
using System.Linq;
using FlowOod.Bijectors;
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

// The corrected likelihood scores on the real data with a small budget. A tiny Glow trained briefly on Fashion-MNIST
// gives MNIST digits higher likelihood (raw NLL AUROC ≈ 0.1). Serrà et al.'s input complexity fixes that (AUROC 0.99 in
// every run measured), and so does Ren et al.'s likelihood ratio when the background is the trained foreground
// fine-tuned on pixel-perturbed images. Measured (Glow Tiny, 4096 training images, 300 foreground steps at lr 3e-3,
// batch 32, 500 vs 500 test images, one torch thread), seeds 1/2/3: NLL 0.153/0.119/0.104; fine-tuned background
// μ = 0.05, 600 steps at lr 1e-3: 0.984/0.982/0.963 (300 steps: 0.902/0.847/0.796; μ = 0.1: 0.948/0.930/0.898). A
// background trained from scratch depended on the seed far more than on μ: μ = 0.05 gave 0.932/0.521/0.180.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class LikelihoodRatioIntegrationTests
{
    private static readonly long[] Shape = [1, 28, 28];

    [Fact]
    public void LikelihoodRatioAndInputComplexity_TinyGlowOnFashionMnist_BeatRawLikelihoodOnMnistByAWideMargin()
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
        var background = LikelihoodRatioScorer.FineTuneBackground(
            foreground, data, mutationRate: 0.05, options with { Steps = 600, LearningRate = 1e-3, Seed = 1001 }, cancellationToken: cancellation);

        var nll = Auroc(new NegativeLogLikelihoodScorer(foreground), inBatch, oodBatch, out _);
        var png = Auroc(new InputComplexityScorer(foreground), inBatch, oodBatch, out _);
        var deflate = Auroc(new InputComplexityScorer(foreground, new DeflateCompressor()), inBatch, oodBatch, out _);
        var ratio = Auroc(new LikelihoodRatioScorer(foreground, background), inBatch, oodBatch, out var ratioScores);
        background.Dispose();
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Fashion-MNIST vs MNIST AUROC: NLL {nll:F3}, input complexity PNG {png:F3}, deflate {deflate:F3}, likelihood ratio (μ = 0.05) {ratio:F3}"));

        nll.Should().BeLessThan(0.3, "raw likelihood prefers MNIST");
        png.Should().BeGreaterThan(0.95, $"input complexity corrects raw likelihood (NLL AUROC {nll:F3})");
        deflate.Should().BeGreaterThan(0.95, $"input complexity corrects raw likelihood (NLL AUROC {nll:F3})");
        ratioScores.Should().OnlyContain(s => double.IsFinite(s));
        ratio.Should().BeGreaterThan(nll + 0.5, "the likelihood ratio removes what the background model explains (margins measured: 0.83-0.86)");
    }

    private static double Auroc(IOodScorer scorer, Tensor inBatch, Tensor oodBatch, out double[] all)
    {
        var inScores = scorer.Score(inBatch);
        var oodScores = scorer.Score(oodBatch);
        all = [.. inScores, .. oodScores];
        return OodMetrics.Auroc(inScores, oodScores);
    }
}
