using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.Bijectors;
using FlowOod.Distributions;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Analysis;
using FlowOod.Tests.Data;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class DoseScorerTests
{
    private static readonly long[] Shape = [1, 4, 4];

    [Fact]
    public void Statistics_TwoScaleRealNvp_MatchAStepByStepComputation()
    {
        using var flow = Flow(seed: 1, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = Images(5, seed: 2, ScalarType.Float64);
        using var scorer = DoseScorer.Fit(flow, Images(6, seed: 3, ScalarType.Float64), chunkSize: 2);

        var statistics = scorer.Statistics(batch);

        scorer.StatisticNames.Should().HaveCount(7);
        statistics.Should().HaveCount(5).And.OnlyContain(s => s.Length == 7);

        // By hand: the three top-level steps, the first scale's steps up to its factor-out, the inner scale.
        var top = ((Chain)flow.Transform).Steps;
        var (dequantized, dequantizationLogDet) = top[0].Forward(batch);
        var (logits, logitLogDet) = top[1].Forward(dequantized);
        var (latent, bodyLogDet) = top[2].Forward(logits);
        var scale = ((Chain)top[2]).Steps;
        var current = logits;
        var firstScaleLogDet = zeros(5, dtype: ScalarType.Float64);
        foreach (var step in scale.TakeWhile(s => s is not FactorOut))
        {
            var (output, logDet) = step.Forward(current);
            firstScaleLogDet = firstScaleLogDet.Plus(logDet);
            current = output;
        }

        var factorOut = (FactorOut)scale.Single(s => s is FactorOut);
        var kept = current.narrow(1, 0, factorOut.KeepChannels);
        var setAside = current.narrow(1, factorOut.KeepChannels, current.shape[1] - factorOut.KeepChannels).flatten(1);
        var (_, innerLogDet) = factorOut.Inner.Forward(kept);
        var setAsideLogDensity = setAside.Squared().sum(1).TimesInPlace(-0.5).MinusInPlace(setAside.shape[1] * 0.5 * Math.Log(2 * Math.PI));
        var logProb = flow.LogProb(batch, ScoringNoise.BinCentres).data<double>().ToArray();
        var expected = new[] { dequantizationLogDet, logitLogDet, bodyLogDet, firstScaleLogDet, innerLogDet, setAsideLogDensity }
            .Select(t => t.data<double>().ToArray()).ToArray();
        var latentLogDensity = StandardNormal.Instance.LogProb(latent).data<double>().ToArray();

        for (int n = 0; n < 5; n++)
        {
            var t = statistics[n];
            t[0].Should().Be(logProb[n], "log p(x) is the flow's own log-likelihood, bit for bit");
            t[1].Should().BeApproximately(latentLogDensity[n], 1e-9);
            t[2].Should().BeApproximately(expected[0][n], 1e-9);
            t[2].Should().BeApproximately(16 * Math.Log(255.0 / 256.0), 1e-9);
            t[3].Should().BeApproximately(expected[1][n], 1e-9);
            t[4].Should().BeApproximately(expected[3][n], 1e-9);
            t[5].Should().BeApproximately(expected[4][n], 1e-9);
            (t[4] + t[5]).Should().BeApproximately(expected[2][n], 1e-9);
            t[6].Should().BeApproximately(expected[5][n], 1e-9);
            t[0].Should().BeApproximately(t[1] + t[2] + t[3] + t[4] + t[5], 1e-9, "log p(x) = log p_Z(z) + every log-det");
        }
    }

    [Fact]
    public void Statistics_AgreeAcrossChunkSizes_AndLogLikelihoodIsTheNllScorers()
    {
        using var flow = Flow(seed: 4, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var heldOut = Images(12, seed: 5, ScalarType.Float32);
        var batch = Images(7, seed: 6, ScalarType.Float32);
        using var whole = DoseScorer.Fit(flow, heldOut, chunkSize: 64, ScoringNoise.Seeded(8));
        using var chunked = DoseScorer.Fit(flow, heldOut, chunkSize: 3, ScoringNoise.Seeded(8));

        // Float32 kernels may round differently for different batch sizes, so chunkings agree to float precision.
        chunked.Score(batch).Should().Equal(whole.Score(batch), (a, b) => Math.Abs(a - b) <= 1e-5 * Math.Max(1, Math.Abs(b)));
        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, noise: ScoringNoise.Seeded(8)).Score(batch);
        whole.Statistics(batch).Select(t => -t[0]).Should().Equal(nll);
    }

    [Fact]
    public void Kde_MatchesAHandComputation()
    {
        // Samples 0, 1, 2, 4: μ = 1.75, σ = 1.7078…, IQR of the standardised samples (type 7) 1.75/σ, so
        // h = 0.9 · min(1, IQR/1.34) · 4^(−1/5) = 0.52158; log KDE computed directly (sum of Gaussians, no log-sum-exp).
        var kde = new IndependentKde([new double[] { 0, 1, 2, 4 }], "samples");

        kde.Mean(0).Should().Be(1.75);
        kde.Scale(0).Should().BeApproximately(1.707825127659933, 1e-12);
        kde.Bandwidth(0).Should().BeApproximately(0.5215793182448969, 1e-12);
        kde.LogDensity(0, 1.75).Should().BeApproximately(-1.0395454935979909, 1e-12);
        kde.LogDensity(0, 3.0).Should().BeApproximately(-1.5155502035041744, 1e-12);
        kde.LogDensity(0, -2.0).Should().BeApproximately(-4.132503009891679, 1e-12);
        kde.LogDensity(0, 10.0).Should().BeApproximately(-24.339662729035528, 1e-10);
    }

    [Fact]
    public void Kde_SumsIndependentStatistics_AndStaysFiniteFarAway()
    {
        var kde = new IndependentKde([new double[] { 0, 1, 2, 4 }, new double[] { -3, -3, -3, -3 }], "samples");

        // The constant statistic: s = 10⁻⁶·3, IQR and spread 0, so h = 0.9·4^(−1/5); at its value log KDE = −log(h√2π).
        var constantAtValue = -Math.Log(0.9 * Math.Pow(4, -0.2) * Math.Sqrt(2 * Math.PI));
        kde.LogDensity(1, -3).Should().BeApproximately(constantAtValue, 1e-12);
        kde.NegativeLogDensity([3.0, -3.0]).Should().BeApproximately(1.5155502035041744 - constantAtValue, 1e-12);

        var far = kde.NegativeLogDensity([1e6, -3.0]);
        double.IsFinite(far).Should().BeTrue();
        far.Should().BeGreaterThan(1e11, "≈ ½((10⁶ − μ)/(σh))²");
        kde.NegativeLogDensity([0.0, -2.0]).Should().BeGreaterThan(1e10, "a constant statistic that moves by 1 is 3·10⁵ scales away");
        kde.NegativeLogDensity([double.MaxValue, -3.0]).Should().Be(double.MaxValue, "an overflow saturates");
    }

    [Fact]
    public void Score_InputsFarFromTheFitSet_ScoreHigher()
    {
        using var flow = Flow(seed: 7, ScalarType.Float32);
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(9);
        var heldOut = Smooth(40, generator);
        using var scorer = DoseScorer.Fit(flow, heldOut);

        var inDistribution = scorer.Score(Smooth(20, generator));
        var noise = scorer.Score(Images(20, seed: 10, ScalarType.Float32));

        inDistribution.Should().OnlyContain(s => double.IsFinite(s));
        noise.Min().Should().BeGreaterThan(inDistribution.Max(), "uniform noise is far from smooth held-out images in every statistic");
    }

    [Fact]
    public void BadInput_IsRefusedNamingTheParameter()
    {
        using var flow = Flow(seed: 11, ScalarType.Float32);
        using var scope = NewDisposeScope();
        using var scorer = DoseScorer.Fit(flow, Images(6, seed: 12, ScalarType.Float32));

        FluentActions.Invoking(() => scorer.Score(zeros(2, 1, 8, 8))).Should().Throw<ArgumentException>().WithParameterName("batch");
        FluentActions.Invoking(() => scorer.Score(ones(2, 1, 4, 4).TimesInPlace(2.0))).Should().Throw<ArgumentException>().WithParameterName("batch");
        FluentActions.Invoking(() => DoseScorer.Fit(flow, Images(1, seed: 13, ScalarType.Float32)))
            .Should().Throw<ArgumentException>().WithParameterName("heldOutInDistribution").WithMessage("*at least 2*");
        FluentActions.Invoking(() => DoseScorer.Fit(flow, Images(4, seed: 13, ScalarType.Float32), maxSamplesPerStatistic: 1))
            .Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => new DoseScorer(flow, scorer.FittedStatistics.Skip(1).ToArray()))
            .Should().Throw<ArgumentException>().WithParameterName("fittedStatistics").WithMessage("*7 statistics*6*");
        var withNaN = scorer.FittedStatistics.Select(s => s.ToArray()).ToArray();
        withNaN[3][1] = double.NaN;
        FluentActions.Invoking(() => new DoseScorer(flow, withNaN))
            .Should().Throw<ArgumentException>().WithParameterName("fittedStatistics").WithMessage("*sample 1 of statistic 3*");
    }

    [Fact]
    public void NonFiniteStatistic_IsAnInvalidOperation()
    {
        using var flow = Flow(seed: 14, ScalarType.Float32);
        using var scope = NewDisposeScope();
        using var scorer = DoseScorer.Fit(flow, Images(6, seed: 15, ScalarType.Float32));
        using (no_grad())
        {
            flow.parameters().First().DivideInPlace(0.0).TimesInPlace(0.0);
        }

        FluentActions.Invoking(() => scorer.Score(Images(2, seed: 16, ScalarType.Float32)))
            .Should().Throw<InvalidOperationException>().WithMessage("*statistic*NaN*");
    }

    [Fact]
    public void Fit_ManyExamples_KeepsAtMostTheCapOfEvenlySpacedOrderStatistics()
    {
        using var flow = Flow(seed: 17, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var heldOut = Images(9, seed: 18, ScalarType.Float32);
        using var all = DoseScorer.Fit(flow, heldOut);
        using var capped = DoseScorer.Fit(flow, heldOut, maxSamplesPerStatistic: 5);

        all.FittedStatistics.Should().OnlyContain(s => s.Count == 9);
        capped.FittedStatistics.Should().OnlyContain(s => s.Count == 5);
        for (int j = 0; j < all.FittedStatistics.Count; j++)
        {
            var sorted = all.FittedStatistics[j];
            sorted.Should().BeInAscendingOrder();
            capped.FittedStatistics[j].Should().Equal(sorted[0], sorted[2], sorted[4], sorted[6], sorted[8]);
        }
    }

    [Fact]
    public void SaveThenLoad_GivesTheSameStateAndBitIdenticalScores()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var flow = Flow(seed: 19, ScalarType.Float32);
        using var scorer = DoseScorer.Fit(flow, Images(10, seed: 20, ScalarType.Float32), chunkSize: 3, ScoringNoise.Seeded(4));
        var path = folder.Combine("dose" + ModelFile.Extension);
        var batch = Images(8, seed: 21, ScalarType.Float32);

        ModelFile.Save(scorer, path);
        using var loaded = (DoseScorer)ModelFile.LoadScorer(path);

        loaded.OwnsFlows.Should().BeTrue();
        (loaded.ChunkSize, loaded.Noise).Should().Be((3, ScoringNoise.Seeded(4)));
        loaded.FittedStatistics.Should().BeEquivalentTo(scorer.FittedStatistics, o => o.WithStrictOrdering());
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        flow.Dispose();
    }

    [Theory]
    [InlineData("\"statistics\":7", "\"statistics\":5", "*$.content.statistics is 5, but the stored flow has 7 statistics*")]
    [InlineData("\"statistics\":7", "\"statistics\":1", "*$.content.statistics*")]
    [InlineData("\"samplesPerStatistic\":6", "\"samplesPerStatistic\":5", "*samples*")]
    [InlineData("\"samplesPerStatistic\":6", "\"samplesPerStatistic\":1", "*$.content.samplesPerStatistic*")]
    public void Load_DamagedCounts_IsAModelFormatExceptionNamingTheField(string original, string replacement, string message)
    {
        var surgery = ModelFileSurgery.Open(SavedScorer());
        surgery.Header.Should().Contain(original);
        surgery.Header = surgery.Header.Replace(original, replacement, StringComparison.Ordinal);

        Load(surgery.Build()).Should().Throw<ModelFormatException>().WithMessage(message);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.NegativeInfinity, "-∞")]
    public void Load_NonFiniteSample_IsAModelFormatExceptionNamingTheTensor(double value, string shown)
    {
        var surgery = ModelFileSurgery.Open(SavedScorer());
        var tensor = surgery.HeaderJson["content"]!["samples"]!.GetValue<string>();
        surgery.SetElement(tensor, 9, value);

        Load(surgery.Build()).Should().Throw<ModelFormatException>().WithMessage($"*'{tensor}' holds {shown} at index 9*");
    }

    [Fact]
    public void Score_ManyThreadsAtOnce_GiveTheSingleThreadedAnswers()
    {
        using var flow = Flow(seed: 22, ScalarType.Float32);
        using var scope = NewDisposeScope();
        using var scorer = DoseScorer.Fit(flow, Images(16, seed: 23, ScalarType.Float32), chunkSize: 5, ScoringNoise.Seeded(6));
        var batches = Enumerable.Range(0, 8).Select(i => Images(3 + i, seed: (ulong)(30 + i), ScalarType.Float32)).ToArray();
        var expected = batches.Select(scorer.Score).ToArray();

        var answers = new double[64][];
        Parallel.For(0, answers.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            using var threadScope = NewDisposeScope();
            answers[i] = scorer.Score(batches[i % batches.Length]);
        });

        for (int i = 0; i < answers.Length; i++)
        {
            answers[i].Should().Equal(expected[i % batches.Length], $"call {i}");
        }
    }

    // A saved scorer of the two-scale flow (7 statistics) fitted on 6 held-out images.
    private static byte[] SavedScorer()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var flow = Flow(seed: 24, ScalarType.Float32);
        using var scorer = DoseScorer.Fit(flow, Images(6, seed: 25, ScalarType.Float32));
        var path = folder.Combine("dose" + ModelFile.Extension);
        ModelFile.Save(scorer, path);
        return File.ReadAllBytes(path);
    }

    private static Func<IOodScorer> Load(byte[] file) => () =>
    {
        using var folder = new TempFolder();
        var path = folder.Combine("damaged" + ModelFile.Extension);
        File.WriteAllBytes(path, file);
        var loaded = (DoseScorer)ModelFile.LoadScorer(path);
        loaded.Dispose();
        return loaded;
    };

    // Seeds torch's global generator first: the initial weights come from it, so a test's flow must not depend on the
    // tests that ran before it.
    private static NormalizingFlow Flow(ulong seed, ScalarType dtype)
    {
        random.manual_seed((long)seed);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1, DequantizationNoise = false });
        flow.to(dtype);
        AnalysisFixtures.Perturb(flow, seed);
        flow.eval();
        return flow;
    }

    // 8-bit images k/255, [n, 1, 4, 4].
    private static Tensor Images(long n, ulong seed, ScalarType dtype)
    {
        using var generator = new TorchSharp.torch.Generator(seed);
        return randint(0, 256, [n, .. Shape], generator: generator).to(dtype).DivideInPlace(255.0);
    }

    // Smooth 8-bit images: a random grey level plus a faint horizontal ramp, [n, 1, 4, 4].
    private static Tensor Smooth(long n, TorchSharp.torch.Generator generator)
    {
        var level = rand([n, 1, 1, 1], generator: generator).TimesInPlace(0.5).PlusInPlace(0.25);
        var ramp = tensor(Enumerable.Range(0, 16).Select(i => 0.02f * (i % 4)).ToArray()).reshape(1, 1, 4, 4);
        return level.Plus(ramp).TimesInPlace(255.0).round().DivideInPlace(255.0);
    }
}
