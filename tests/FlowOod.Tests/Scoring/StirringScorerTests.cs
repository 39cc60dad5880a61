using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.Bijectors;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// StirringScorer (Umapathi et al. 2023): the score Σ_T [log p(Tx) − log p(x)] against a hand computation on per-pixel
// Gaussian flows (closed-form log-densities, transforms written out as index maps), the median − 3·MAD correction,
// invariant images, orientation on a toy case where the plain likelihood fails, bad input, persistence and threads.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class StirringScorerTests
{
    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);
    private static readonly int[] ConstantLevels = [0, 1, 128, 255];
    private static readonly int[] RingLevels = [10, 200, 60, 140];

    // out(i, j) = in(g(i, j)) on an n×n image: the 8 symmetries of the square, the identity first.
    private static readonly Func<int, int, int, (int, int)>[] SquareSymmetries =
    [
        (n, i, j) => (i, j),
        (n, i, j) => (j, n - 1 - i),
        (n, i, j) => (n - 1 - i, n - 1 - j),
        (n, i, j) => (n - 1 - j, i),
        (n, i, j) => (i, n - 1 - j),
        (n, i, j) => (n - 1 - i, j),
        (n, i, j) => (j, i),
        (n, i, j) => (n - 1 - j, n - 1 - i),
    ];

    [Fact]
    public void Score_Stirring4x4_EqualsTheSumOverTheSevenSymmetriesOfClosedFormLogDensityDifferences()
    {
        var (mean, std) = (Pixels(16, p => 0.3 + (0.037 * p) - (0.002 * p * p)), Pixels(16, p => 0.05 + (0.01 * (p % 5))));
        using var flow = PixelGaussian(4, 4, mean, std);
        using var scope = NewDisposeScope();
        var images = Enumerable.Range(0, 5).Select(k => Pixels(16, p => ((k * 37) + (p * 11) + (p * p * 3)) % 256 / 255.0)).ToArray();
        var scorer = new StirringScorer(flow, median: 0, medianAbsoluteDeviation: 0, conditionalCorrection: false, chunkSize: 2);

        var scores = scorer.Score(Batch(images, 4, 4));

        scorer.TransformCount.Should().Be(7);
        for (int k = 0; k < images.Length; k++)
        {
            var logP = LogDensity(images[k], mean, std);
            var expected = SquareSymmetries.Skip(1).Sum(g => LogDensity(Permute(images[k], 4, g), mean, std) - logP);
            scores[k].Should().BeApproximately(expected, 1e-9 * Math.Max(1, Math.Abs(expected)), $"image {k}");
            Math.Abs(expected).Should().BeGreaterThan(1, "the images are not symmetric, so the sum is not trivially 0");
        }
    }

    [Fact]
    public void Score_Shaking4x4_EqualsTheSumOverTheNineQuadrantDerangements()
    {
        var (mean, std) = (Pixels(16, p => 0.2 + (0.05 * p)), Pixels(16, p => 0.08 + (0.004 * p)));
        using var flow = PixelGaussian(4, 4, mean, std);
        using var scope = NewDisposeScope();
        var images = Enumerable.Range(0, 3).Select(k => Pixels(16, p => ((k * 53) + (p * 29) + 7) % 256 / 255.0)).ToArray();
        var scorer = new StirringScorer(flow, 0, 0, StirringTransforms.QuadrantDerangements, conditionalCorrection: false);

        var scores = scorer.Score(Batch(images, 4, 4));

        var derangements = Permutations(4).Where(s => s.Select((q, i) => q != i).All(moved => moved)).ToArray();
        derangements.Should().HaveCount(9);
        scorer.TransformCount.Should().Be(9);
        for (int k = 0; k < images.Length; k++)
        {
            var logP = LogDensity(images[k], mean, std);
            var expected = derangements.Sum(order => LogDensity(ShuffleQuadrants(images[k], 4, order), mean, std) - logP);
            scores[k].Should().BeApproximately(expected, 1e-9 * Math.Max(1, Math.Abs(expected)), $"image {k}");
        }
    }

    [Fact]
    public void Score_NonSquareImages_UseOnlyTheFlipsAndTheHalfTurn()
    {
        // [1, 4, 8]: two squeezes leave [16, 1, 2], so the flow is a Gaussian per channel pair; its log-densities of the
        // explicitly flipped and rotated images are the reference.
        using var flow = PixelGaussian(4, 8, Pixels(32, p => 0.1 + (0.02 * p)), Pixels(32, p => 0.1 + (0.003 * p)));
        using var scope = NewDisposeScope();
        var images = Enumerable.Range(0, 4).Select(k => Pixels(32, p => ((k * 17) + (p * 13) + (p * p)) % 256 / 255.0)).ToArray();
        var scorer = new StirringScorer(flow, 0, 0, conditionalCorrection: false);

        var scores = scorer.Score(Batch(images, 4, 8));

        scorer.TransformCount.Should().Be(3);
        Func<int, int, (int, int)>[] maps = [(i, j) => (i, 7 - j), (i, j) => (3 - i, j), (i, j) => (3 - i, 7 - j)];
        var logP = LogProbs(flow, images, 4, 8);
        var permuted = maps.Select(g => LogProbs(flow, images.Select(x => Permute(x, 4, 8, g)).ToArray(), 4, 8)).ToArray();
        for (int k = 0; k < images.Length; k++)
        {
            var expected = permuted.Sum(l => l[k] - logP[k]);
            scores[k].Should().BeApproximately(expected, 1e-9 * Math.Max(1, Math.Abs(expected)), $"image {k}");
        }
    }

    [Theory]
    [InlineData(StirringTransforms.Symmetries, "BinCentres")]
    [InlineData(StirringTransforms.Symmetries, "Seeded")]
    [InlineData(StirringTransforms.QuadrantDerangements, "Seeded")]
    public void Score_ImagesInvariantUnderEveryTransform_ScoreExactlyZero(StirringTransforms transforms, string noise)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 41);
        using var scope = NewDisposeScope();
        var constant = Enumerable.Range(0, 4).Select(k => Pixels(64, _ => ConstantLevels[k] / 255.0));
        var rings = Enumerable.Range(0, 2).Select(k => Pixels(64, p => Ring(p, k)));
        var images = transforms == StirringTransforms.Symmetries ? constant.Concat(rings).ToArray() : constant.ToArray();
        var scorer = new StirringScorer(
            flow, 0, 0, transforms, conditionalCorrection: false, chunkSize: 4, noise == "Seeded" ? ScoringNoise.Seeded(5) : ScoringNoise.BinCentres);

        var batch = Batch(images, 8, 8).to_type(ScalarType.Float32);
        var scores = scorer.Score(batch);
        var strided = scorer.Score(batch.transpose(2, 3));

        scores.Should().OnlyContain(s => s == 0, "log p(T(x)) = log p(x) when T(x) = x");
        strided.Should().OnlyContain(s => s == 0, "also for a batch with other strides (regression: a flipped transpose kept the strides and rounded differently)");
        var plain = Batch([Pixels(64, p => (p * 37 % 256) / 255.0)], 8, 8).to_type(ScalarType.Float32);
        scorer.Score(plain).Single().Should().NotBe(0, "an image that the transforms move scores otherwise");
    }

    [Fact]
    public void Score_ToyCaseWhereTheLikelihoodFails_RanksTheSymmetricOutlierAboveEveryInDistributionImage()
    {
        // In-distribution: N(μ, 0.05² I) on 8×8 images with μ a faint vertical gradient 0.5 + 0.015 (i − 3.5). The constant
        // image 0.5 (μ averaged over the symmetries of the square) is closer to μ than a typical sample, so −log p calls it
        // more in-distribution than most in-distribution images; it is invariant under every T, so its stirred score is 0,
        // while a sample's drops by about 60 nats per transform that moves the gradient.
        var mean = Pixels(64, p => 0.5 + (0.015 * ((p / 8) - 3.5)));
        using var flow = PixelGaussian(8, 8, mean, Pixels(64, _ => 0.05));
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(7);
        var meanImage = tensor(mean, [1, 1, 8, 8], ScalarType.Float64);
        var heldOut = randn([60, 1, 8, 8], ScalarType.Float64, generator: generator).TimesInPlace(0.05).PlusInPlace(meanImage);
        var test = randn([40, 1, 8, 8], ScalarType.Float64, generator: generator).TimesInPlace(0.05).PlusInPlace(meanImage);
        var outlier = Batch([Pixels(64, _ => 0.5), Pixels(64, p => 0.5 + (0.004 * Ring(p, 1)))], 8, 8);

        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats);
        var inNll = nll.Score(test).Order().ToArray();
        nll.Score(outlier).Should().OnlyContain(s => s < inNll[inNll.Length / 2], "the plain likelihood prefers the outliers to half the in-distribution images");

        foreach (var scorer in new[] { new StirringScorer(flow, 0, 0, conditionalCorrection: false), StirringScorer.Fit(flow, heldOut) })
        {
            var inScores = scorer.Score(test);
            var outScores = scorer.Score(outlier);
            outScores.Min().Should().BeGreaterThan(inScores.Max(), $"{scorer.Name} ranks the outliers above every in-distribution image");
            inScores.Should().OnlyContain(s => s < 0 && s != StirringScorer.FlaggedScore);
        }
    }

    [Fact]
    public void Fit_ComputesTheMedianAndMadOfHeldOutLogLikelihoods_AndTheCorrectionFlagsInputsBelowMedianMinusThreeScaledMad()
    {
        var (mean, std) = (Pixels(16, p => 0.4 + (0.01 * p)), Pixels(16, _ => 0.1));
        using var flow = PixelGaussian(4, 4, mean, std);
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(3);
        var heldOut = randn([25, 1, 4, 4], ScalarType.Float64, generator: generator).TimesInPlace(0.1).PlusInPlace(tensor(mean, [1, 1, 4, 4], ScalarType.Float64));

        var scorer = StirringScorer.Fit(flow, heldOut, chunkSize: 4);

        var logP = LogProbs(flow, heldOut);
        var sorted = logP.Order().ToArray();
        var median = sorted[12];
        var deviations = logP.Select(l => Math.Abs(l - median)).Order().ToArray();
        scorer.Median.Should().Be(median);
        scorer.MedianAbsoluteDeviation.Should().Be(deviations[12]);
        scorer.Threshold.Should().Be(median - (3 * (deviations[12] / 0.6744897501960817)));
        scorer.ConditionalCorrection.Should().BeTrue();

        var batch = cat([heldOut.narrow(0, 0, 5), ones(2, 1, 4, 4, ScalarType.Float64).TimesInPlace(0.9)], 0);
        var corrected = scorer.Score(batch);
        var uncorrected = new StirringScorer(flow, scorer.Median, scorer.MedianAbsoluteDeviation, conditionalCorrection: false).Score(batch);
        var batchLogP = LogProbs(flow, batch);
        batchLogP.TakeLast(2).Should().OnlyContain(l => l < scorer.Threshold, "the bright images lie far below the threshold");
        for (int i = 0; i < batchLogP.Length; i++)
        {
            corrected[i].Should().Be(batchLogP[i] < scorer.Threshold ? StirringScorer.FlaggedScore : uncorrected[i], $"image {i}");
        }

        corrected.Count(s => s == StirringScorer.FlaggedScore).Should().BeGreaterThanOrEqualTo(2);
    }

    [Theory]
    [InlineData(new[] { 100.0, 2, 4, 1, 3 }, 3.0, 1.0)]
    [InlineData(new[] { 4.0, 1, 3, 2 }, 2.5, 1.0)]
    [InlineData(new[] { -7.5, -7.5 }, -7.5, 0.0)]
    [InlineData(new[] { 1.0, 10, 11, 12, 30, 31 }, 11.5, 6.0)]
    public void MedianAndMad_OddAndEvenCounts_AreNumpysMedianAndTheUnscaledMad(double[] values, double median, double mad)
    {
        StirringScorer.MedianAndMad(values).Should().Be((median, mad));
    }

    [Fact]
    public void Score_ChunkSizes_GiveTheSameScores()
    {
        using var flow = PixelGaussian(4, 4, Pixels(16, p => 0.3 + (0.03 * p)), Pixels(16, _ => 0.2));
        using var scope = NewDisposeScope();
        var batch = Batch(Enumerable.Range(0, 7).Select(k => Pixels(16, p => ((k * 31) + (p * 7)) % 256 / 255.0)).ToArray(), 4, 4);

        var whole = new StirringScorer(flow, -50, 1, chunkSize: 256).Score(batch);
        var chunked = new StirringScorer(flow, -50, 1, chunkSize: 3).Score(batch);

        chunked.Should().Equal(whole);
    }

    [Fact]
    public void Constructor_And_Fit_RefuseFlowsAndNumbersTheyCannotUse()
    {
        using var tabular = GaussianFlows.StandardNormal(4);
        using var square = PixelGaussian(4, 4, Pixels(16, _ => 0.5), Pixels(16, _ => 0.1));
        using var odd = new NormalizingFlow(new ActNorm(1), [1, 5, 6]);
        using var single = new NormalizingFlow(new ActNorm(1), [1, 1, 1]);
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => new StirringScorer(null!, 0, 0)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new StirringScorer(tabular, 0, 0)).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "flow").WithMessage("*images [..., H, W]*[4]*");
        FluentActions.Invoking(() => new StirringScorer(odd, 0, 0, StirringTransforms.QuadrantDerangements)).Should().Throw<ArgumentException>()
            .WithMessage("*even H and W*[1, 5, 6]*");
        FluentActions.Invoking(() => new StirringScorer(odd, 0, 0)).Should().NotThrow("flips and the half turn apply to any H × W");
        FluentActions.Invoking(() => new StirringScorer(single, 0, 0)).Should().Throw<ArgumentException>().WithMessage("*identity*");
        FluentActions.Invoking(() => new StirringScorer(square, 0, 0, (StirringTransforms)7)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => new StirringScorer(square, double.NaN, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*median*");
        FluentActions.Invoking(() => new StirringScorer(square, 0, -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*non-negative*");
        FluentActions.Invoking(() => new StirringScorer(square, -1e308, 1e308)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*threshold*not finite*");
        FluentActions.Invoking(() => new StirringScorer(square, 0, 0, chunkSize: 0)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => StirringScorer.Fit(square, zeros(1, 1, 4, 4, ScalarType.Float64))).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "heldOutInDistribution").WithMessage("*at least 2*");
        FluentActions.Invoking(() => StirringScorer.Fit(square, zeros(3, 1, 4, 5, ScalarType.Float64))).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "heldOutInDistribution");
    }

    [Theory]
    [MemberData(nameof(NegativeLogLikelihoodScorerTests.BadInputs), MemberType = typeof(NegativeLogLikelihoodScorerTests))]
    public void Score_BadInput_ThrowsArgumentExceptionNamingTheBatch(string problem, string message)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 43);
        using var scope = NewDisposeScope();
        var scorer = new StirringScorer(flow, -100, 2);

        var act = () => scorer.Score(NegativeLogLikelihoodScorerTests.BadBatch(problem));

        act.Should().Throw<ArgumentException>().WithMessage(message).Where(e => e.ParamName == "batch");
    }

    [Theory]
    [InlineData(StirringTransforms.Symmetries, true)]
    [InlineData(StirringTransforms.QuadrantDerangements, false)]
    public void SaveThenLoad_KeepsTheFittedNumbersAndSettings_AndScoresBitIdentically(StirringTransforms transforms, bool correction)
    {
        using var folder = new TempFolder();
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 44);
        using var scope = NewDisposeScope();
        var scorer = StirringScorer.Fit(flow, ScoringFlows.EightBitImages(30, ScalarType.Float32), transforms, correction, chunkSize: 7, ScoringNoise.Seeded(3));
        var batch = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var path = folder.Combine("stirring" + ModelFile.Extension);

        ModelFile.Save(scorer, path);
        using var loaded = (StirringScorer)ModelFile.LoadScorer(path);

        (loaded.Median, loaded.MedianAbsoluteDeviation, loaded.Threshold, loaded.Transforms, loaded.ConditionalCorrection, loaded.ChunkSize, loaded.Noise, loaded.Name)
            .Should().Be((scorer.Median, scorer.MedianAbsoluteDeviation, scorer.Threshold, transforms, correction, 7, ScoringNoise.Seeded(3), scorer.Name));
        loaded.OwnsFlows.Should().BeTrue();
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
    }

    public static TheoryData<string, string, string> DamagedFields => new()
    {
        { "medianAbsoluteDeviation", "-0.5", "*$.content.medianAbsoluteDeviation*" },
        { "medianAbsoluteDeviation", "1e308", "*$.content.medianAbsoluteDeviation*threshold*not finite*" },
        { "median", "\"a lot\"", "*$.content.median*" },
        { "transforms", "\"Stir\"", "*$.content.transforms*" },
        { "conditionalCorrection", "1", "*$.content.conditionalCorrection*" },
    };

    [Theory]
    [MemberData(nameof(DamagedFields))]
    public void Load_DamagedFittedNumberOrSetting_IsAModelFormatExceptionNamingTheField(string field, string json, string message)
    {
        using var folder = new TempFolder();
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 45);
        using var scope = NewDisposeScope();
        var path = folder.Combine("stirring" + ModelFile.Extension);
        ModelFile.Save(new StirringScorer(flow, -1e308, 0), path);
        var damaged = ModelFileMutations.WithHeader(System.IO.File.ReadAllBytes(path), h => h["content"]![field] = System.Text.Json.Nodes.JsonNode.Parse(json));
        System.IO.File.WriteAllBytes(path, damaged);

        FluentActions.Invoking(() => ModelFile.LoadScorer(path)).Should().Throw<ModelFormatException>().WithMessage(message);
    }

    [Fact]
    public void Load_ShakingAStoredFlowWithOddImageSides_IsAModelFormatExceptionNamingTransforms()
    {
        using var folder = new TempFolder();
        random.manual_seed(46);
        using var flow = FlowOod.Models.SingleScaleRealNvp.Create([1, 5, 5], new FlowOod.Models.SingleScaleRealNvpOptions
        {
            Mask = FlowOod.Masks.CheckerboardMask.Instance,
            Couplings = 2,
            Conditioner = new FlowOod.Conditioners.ResNetConditionerFactory(4, 1),
        });
        flow.eval();
        using var scope = NewDisposeScope();
        var path = folder.Combine("stirring" + ModelFile.Extension);
        ModelFile.Save(new StirringScorer(flow, 0, 1), path);
        var damaged = ModelFileMutations.WithHeader(System.IO.File.ReadAllBytes(path), h => h["content"]!["transforms"] = "QuadrantDerangements");
        System.IO.File.WriteAllBytes(path, damaged);

        FluentActions.Invoking(() => ModelFile.LoadScorer(path)).Should().Throw<ModelFormatException>()
            .WithMessage("*$.content.transforms*QuadrantDerangements*even H and W*[1, 5, 5]*");
    }

    [Fact]
    public void Score_FromSeveralThreadsAtOnce_GivesTheSingleThreadedScoresBitForBit()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 47);
        using var scope = NewDisposeScope();
        var scorer = StirringScorer.Fit(flow, ScoringFlows.EightBitImages(20, ScalarType.Float32), chunkSize: 5, noise: ScoringNoise.Seeded(8));
        var batches = Enumerable.Range(0, 4).Select(_ => ScoringFlows.EightBitImages(12, ScalarType.Float32)).ToArray();
        var expected = batches.Select(scorer.Score).ToArray();

        var results = new double[batches.Length][][];
        Parallel.For(0, batches.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k =>
        {
            using var inner = NewDisposeScope();
            results[k] = Enumerable.Range(0, 3).Select(_ => scorer.Score(batches[k])).ToArray();
        });

        for (int k = 0; k < batches.Length; k++)
        {
            results[k].Should().AllSatisfy(r => r.Should().Equal(expected[k]), $"batch {k}");
        }
    }

    // A flow on [1, H, W] whose density is a product of Gaussians: squeezes (a pure permutation of the pixels) until a
    // side is odd, then ActNorm with bias −μ and log scale −log σ per channel, where channel c takes μ and σ of the first
    // pixel it holds. When both sides are powers of 2 every channel holds one pixel: N(μ_p, σ_p²) per pixel p.
    private static NormalizingFlow PixelGaussian(int height, int width, double[] mean, double[] std)
    {
        var (pixelOf, squeezes, spatial) = SqueezedLayout(height, width);
        var steps = Enumerable.Range(0, squeezes).Select(_ => (Bijector)new Squeeze()).ToList();
        var actNorm = new ActNorm(pixelOf.Length);
        steps.Add(actNorm);
        var flow = new NormalizingFlow(new Chain(steps), [1, height, width]);
        flow.to(ScalarType.Float64);
        using (var scope = NewDisposeScope())
        {
            actNorm.InitializeFrom(zeros([2, pixelOf.Length, .. spatial], ScalarType.Float64));
            using var noGrad = no_grad();
            var parameters = actNorm.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            parameters["bias"].copy_(tensor(pixelOf.Select(p => -mean[p]).ToArray()));
            parameters["log_scale"].copy_(tensor(pixelOf.Select(p => -Math.Log(std[p])).ToArray()));
        }

        flow.eval();
        return flow;
    }

    // Where the squeezes put the pixels: the first pixel (row-major index) of each channel, the number of squeezes and
    // the spatial shape left.
    private static (int[] PixelOf, int Squeezes, long[] Spatial) SqueezedLayout(int height, int width)
    {
        using var scope = NewDisposeScope();
        var probe = tensor(Enumerable.Range(0, height * width).Select(v => (double)v).ToArray(), [1, 1, height, width], ScalarType.Float64);
        var squeezes = 0;
        while (probe.shape[2] % 2 == 0 && probe.shape[3] % 2 == 0)
        {
            using var squeeze = new Squeeze();
            probe = squeeze.Forward(probe).Output;
            squeezes++;
        }

        var pixelOf = Enumerable.Range(0, (int)probe.shape[1]).Select(c => (int)probe[0, c, 0, 0].item<double>()).ToArray();
        return (pixelOf, squeezes, new[] { probe.shape[2], probe.shape[3] });
    }

    private static double LogDensity(double[] image, double[] mean, double[] std) =>
        image.Select((x, p) => (-0.5 * Math.Pow((x - mean[p]) / std[p], 2)) - Math.Log(std[p]) - HalfLogTwoPi).Sum();

    private static double[] LogProbs(NormalizingFlow flow, double[][] images, int height, int width) => LogProbs(flow, Batch(images, height, width));

    private static double[] LogProbs(NormalizingFlow flow, Tensor batch)
    {
        using var scope = NewDisposeScope();
        return flow.LogProb(batch).data<double>().ToArray();
    }

    private static double[] Pixels(int count, Func<int, double> value) => Enumerable.Range(0, count).Select(value).ToArray();

    // 8×8 rings: the value depends only on the distance to the border, so every symmetry of the square fixes the image.
    private static double Ring(int p, int k)
    {
        var (i, j) = (p / 8, p % 8);
        return (RingLevels[Math.Min(Math.Min(i, j), Math.Min(7 - i, 7 - j))] + (k * 20)) / 255.0;
    }

    private static Tensor Batch(double[][] images, int height, int width) =>
        tensor(images.SelectMany(x => x).ToArray(), [images.Length, 1, height, width], ScalarType.Float64);

    private static double[] Permute(double[] image, int n, Func<int, int, int, (int, int)> g) => Permute(image, n, n, (i, j) => g(n, i, j));

    private static double[] Permute(double[] image, int height, int width, Func<int, int, (int, int)> g)
    {
        var result = new double[image.Length];
        for (int i = 0; i < height; i++)
        {
            for (int j = 0; j < width; j++)
            {
                var (si, sj) = g(i, j);
                result[(i * width) + j] = image[(si * width) + sj];
            }
        }

        return result;
    }

    // Output quadrant q (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) holds input quadrant order[q].
    private static double[] ShuffleQuadrants(double[] image, int n, int[] order)
    {
        var half = n / 2;
        return Permute(image, n, n, (i, j) =>
        {
            var source = order[((i / half) * 2) + (j / half)];
            return (((source / 2) * half) + (i % half), ((source % 2) * half) + (j % half));
        });
    }

    private static IEnumerable<int[]> Permutations(int n) => n == 0
        ? [[]]
        : Permutations(n - 1).SelectMany(p => Enumerable.Range(0, n).Select(at => p.Take(at).Append(n - 1).Concat(p.Skip(at)).ToArray()));
}
