using System;
using System.Linq;
using FlowOod.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class TypicalityTestTests
{
    private const int D = 8;

    [Fact]
    public void Fit_StandardNormal_ThresholdMatchesNormalApproximation()
    {
        // The mean NLL of M = 25 draws from N(0, I_8) has standard deviation √(D/2/M) = 0.4 around H, so
        // ε_0.05 ≈ 1.96 · 0.4 ≈ 0.78 nats (plus a little for the error of Ĥ from 2000 values).
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(11);

        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(4000, D), batchSize: 25, new TypicalityTestOptions { Alpha = 0.05, BootstrapSamples = 2000, Seed = 1 });

        test.Entropy.Should().BeApproximately(GaussianFlows.StandardNormalEntropy(D), 0.2);
        test.Threshold.Should().BeInRange(0.68, 0.92);
        test.BootstrapStatistics.Should().HaveCount(2000).And.BeInAscendingOrder();
        var beyond = test.BootstrapStatistics.Count(s => s > test.Threshold) / 2000.0;
        beyond.Should().BeApproximately(0.05, 0.001, "the threshold is the 0.95 quantile of the bootstrap statistics");
    }

    [Fact]
    public void TestBatches_InDistributionBatches_RejectedAtRateNearAlpha()
    {
        // 600 in-distribution batches at α = 0.1: binomial standard error of the rejection rate 0.012; the bootstrap
        // threshold adds a little error of its own.
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(6000, D), batchSize: 10, new TypicalityTestOptions { Alpha = 0.1, Seed = 2 });

        var results = test.TestBatches(GaussianFlows.Samples(6000, D));

        results.Should().HaveCount(600);
        results.Count(r => r.IsOutOfDistribution).Should().BeInRange(36, 84, "the rejection rate is 0.1 ± 0.04");
        results.Average(r => r.PValue).Should().BeApproximately(0.5, 0.05, "p-values of in-distribution batches are about uniform");
    }

    [Theory]
    [InlineData(1.0, 1.0)] // shifted: every coordinate moves by one standard deviation, mean NLL + 4 nats
    [InlineData(0.0, 0.5)] // concentrated: higher likelihood than typical, mean NLL − 3 nats
    [InlineData(0.0, 1.6)] // spread out: mean NLL + 6.2 nats
    public void TestBatches_ShiftedOrRescaledGaussian_EveryBatchRejected(double mean, double std)
    {
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(13);
        // M = 25: the threshold is ≈ 0.8 nats and the batch means scatter by ≤ 1 nat, so every shift above is ≥ 3 standard
        // deviations beyond the threshold.
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(2000, D), batchSize: 25, new TypicalityTestOptions { Alpha = 0.05, Seed = 3 });

        var results = test.TestBatches(GaussianFlows.Samples(2000, D, mean, std));

        results.Should().HaveCount(80);
        results.Should().OnlyContain(r => r.IsOutOfDistribution);
        results.Should().OnlyContain(r => r.PValue <= test.Alpha);
    }

    [Fact]
    public void Test_ConcentratedBatch_RejectedAlthoughMoreLikelyThanTypical()
    {
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(14);
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(2000, D), batchSize: 5, new TypicalityTestOptions { Seed = 4 });

        var result = test.Test(GaussianFlows.Samples(5, D, std: 0.3));

        result.MeanNegativeLogLikelihood.Should().BeLessThan(test.Entropy - 2, "the batch is more likely than typical");
        result.Statistic.Should().Be(Math.Abs(result.MeanNegativeLogLikelihood - test.Entropy));
        result.Threshold.Should().Be(test.Threshold);
        result.IsOutOfDistribution.Should().BeTrue();
    }

    [Fact]
    public void Test_Batch_StatisticIsAbsoluteMeanNllMinusEntropyInNats()
    {
        using var flow = GaussianFlows.Create([1, 2, 3], [0.5, 1, 2]);
        using var scope = NewDisposeScope();
        random.manual_seed(15);
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(200, 3), batchSize: 4, new TypicalityTestOptions { Seed = 5 });
        var batch = GaussianFlows.Samples(4, 3, mean: 1);

        var result = test.Test(batch);

        var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch);
        result.MeanNegativeLogLikelihood.Should().BeApproximately(nll.Average(), 1e-12 * Math.Abs(nll.Average()));
        result.Statistic.Should().BeApproximately(Math.Abs(nll.Average() - test.Entropy), 1e-12 * Math.Abs(test.Entropy));
        var expectedP = (1.0 + test.BootstrapStatistics.Count(s => s >= result.Statistic)) / (test.BootstrapStatistics.Count + 1);
        result.PValue.Should().Be(expectedP);
        result.IsOutOfDistribution.Should().Be(result.Statistic > test.Threshold);
    }

    [Fact]
    public void Fit_OneHeldOutSet_EqualsFitOnEvenAndOddRows()
    {
        using var flow = GaussianFlows.StandardNormal(3);
        using var scope = NewDisposeScope();
        random.manual_seed(16);
        var heldOut = GaussianFlows.Samples(101, 3);
        var even = heldOut.index_select(0, TestScalars.Arange(0, 101, 2));
        var odd = heldOut.index_select(0, TestScalars.Arange(1, 101, 2));

        var split = TypicalityTest.Fit(flow, heldOut, batchSize: 7, new TypicalityTestOptions { Seed = 9 });
        var explicitSets = TypicalityTest.Fit(flow, even, odd, batchSize: 7, new TypicalityTestOptions { Seed = 9 });

        split.Entropy.Should().Be(explicitSets.Entropy);
        split.BootstrapStatistics.Should().Equal(explicitSets.BootstrapStatistics);
        var nllEven = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(even);
        split.Entropy.Should().BeApproximately(nllEven.Average(), 1e-12 * Math.Abs(nllEven.Average()), "Ĥ comes from the even rows only");
    }

    [Fact]
    public void Fit_SameSeed_SameThreshold_OtherSeed_OtherStatistics()
    {
        using var flow = GaussianFlows.StandardNormal(3);
        using var scope = NewDisposeScope();
        random.manual_seed(17);
        var heldOut = GaussianFlows.Samples(100, 3);

        var first = TypicalityTest.Fit(flow, heldOut, batchSize: 5, new TypicalityTestOptions { Seed = 1 });
        var again = TypicalityTest.Fit(flow, heldOut, batchSize: 5, new TypicalityTestOptions { Seed = 1 });
        var other = TypicalityTest.Fit(flow, heldOut, batchSize: 5, new TypicalityTestOptions { Seed = 2 });

        again.BootstrapStatistics.Should().Equal(first.BootstrapStatistics);
        again.Threshold.Should().Be(first.Threshold);
        other.BootstrapStatistics.Should().NotEqual(first.BootstrapStatistics);
    }

    [Fact]
    public void Constructor_StateOfFittedTest_ReproducesEveryResultExactly()
    {
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(18);
        var fitted = TypicalityTest.Fit(flow, GaussianFlows.Samples(400, D), batchSize: 4, new TypicalityTestOptions { Alpha = 0.2, ChunkSize = 3, Noise = ScoringNoise.Seeded(1) });
        var data = GaussianFlows.Samples(40, D, std: 1.1);

        var reloaded = new TypicalityTest(
            fitted.Flow, fitted.Entropy, fitted.BatchSize, fitted.Alpha, fitted.BootstrapStatistics, fitted.ChunkSize, fitted.Noise);

        reloaded.Threshold.Should().Be(fitted.Threshold);
        reloaded.TestBatches(data).Should().Equal(fitted.TestBatches(data));
    }

    [Fact]
    public void Constructor_UnsortedStatistics_StoredSortedWithSameThreshold()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        var statistics = Enumerable.Range(0, 100).Select(i => (double)((i * 37) % 100)).ToArray();

        var test = new TypicalityTest(flow, 1.0, batchSize: 3, alpha: 0.1, statistics);

        test.BootstrapStatistics.Should().BeInAscendingOrder().And.BeEquivalentTo(statistics);
        test.Threshold.Should().BeInRange(89, 91, "the 0.9 quantile of 0, 1, …, 99");
    }

    [Fact]
    public void Test_WrongBatchSize_ThrowsArgumentExceptionNamingBothSizes()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();
        random.manual_seed(19);
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(100, 2), batchSize: 10);

        var act = () => test.Test(GaussianFlows.Samples(7, 2));

        act.Should().Throw<ArgumentException>().WithMessage("*M = 10*got 7*");
    }

    [Fact]
    public void TestBatches_LengthNotMultipleOfBatchSize_ThrowsArgumentException()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();
        random.manual_seed(20);
        var test = TypicalityTest.Fit(flow, GaussianFlows.Samples(100, 2), batchSize: 10);

        var act = () => test.TestBatches(GaussianFlows.Samples(25, 2));

        act.Should().Throw<ArgumentException>().WithMessage("*whole number of batches*M = 10*25*");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void Fit_AlphaOutsideOpenUnitInterval_ThrowsArgumentOutOfRange(double alpha)
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityTest.Fit(flow, zeros(100, 2, dtype: ScalarType.Float64), batchSize: 5, new TypicalityTestOptions { Alpha = alpha });

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TypicalityTestOptions.Alpha)).WithMessage("*(0, 1)*");
    }

    [Fact]
    public void Options_Defaults_AreTheDocumentedOnesAndValid()
    {
        var options = new TypicalityTestOptions();

        options.Alpha.Should().Be(0.05);
        options.BootstrapSamples.Should().Be(TypicalityTest.DefaultBootstrapSamples).And.Be(1000);
        options.Seed.Should().Be(0);
        options.ChunkSize.Should().Be(256);
        options.Noise.Should().Be(ScoringNoise.BinCentres);
        options.Invoking(o => o.Validate()).Should().NotThrow();
    }

    [Fact]
    public void Options_NullNoiseOrNonPositiveChunkSize_ValidateThrowsNamingTheProperty()
    {
        new TypicalityTestOptions { Noise = null! }.Invoking(o => o.Validate())
            .Should().Throw<ArgumentNullException>().WithParameterName(nameof(TypicalityTestOptions.Noise));
        new TypicalityTestOptions { ChunkSize = 0 }.Invoking(o => o.Validate())
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TypicalityTestOptions.ChunkSize));
    }

    [Fact]
    public void Fit_NullOptions_EqualsDefaultOptions()
    {
        using var flow = GaussianFlows.StandardNormal(D);
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        var heldOut = GaussianFlows.Samples(300, D);

        using var withNull = TypicalityTest.Fit(flow, heldOut, batchSize: 6);
        using var withDefaults = TypicalityTest.Fit(flow, heldOut, batchSize: 6, new TypicalityTestOptions());

        withNull.Entropy.Should().Be(withDefaults.Entropy);
        withNull.BootstrapStatistics.Should().Equal(withDefaults.BootstrapStatistics);
        withNull.Alpha.Should().Be(0.05);
        withNull.BootstrapStatistics.Should().HaveCount(1000);
        withNull.ChunkSize.Should().Be(256);
        withNull.Noise.Should().Be(ScoringNoise.BinCentres);
    }

    [Fact]
    public void Fit_BatchSizeZero_ThrowsArgumentOutOfRange()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityTest.Fit(flow, zeros(100, 2, dtype: ScalarType.Float64), batchSize: 0);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize").WithMessage("*at least 1*");
    }

    [Fact]
    public void Fit_TooFewBootstrapSamplesForAlpha_ThrowsArgumentExceptionNamingTheMinimum()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityTest.Fit(flow, zeros(100, 2, dtype: ScalarType.Float64), batchSize: 5, new TypicalityTestOptions { Alpha = 0.001 });

        act.Should().Throw<ArgumentException>().WithParameterName(nameof(TypicalityTestOptions.BootstrapSamples)).WithMessage("*at least 10000*got 1000*");
        TypicalityTest.MinimumBootstrapSamples(0.05).Should().Be(200);
        TypicalityTest.MinimumBootstrapSamples(0.5).Should().Be(100);
    }

    [Fact]
    public void Fit_TooFewHeldOutExamplesForBatchSize_ThrowsArgumentExceptionNamingTheMinimum()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityTest.Fit(flow, zeros(39, 2, dtype: ScalarType.Float64), batchSize: 20);
        var actExplicit = () => TypicalityTest.Fit(
            flow, zeros(50, 2, dtype: ScalarType.Float64), zeros(19, 2, dtype: ScalarType.Float64), batchSize: 20);

        act.Should().Throw<ArgumentException>().WithParameterName("heldOutInDistribution").WithMessage("*M = 20*at least 40*got 39*");
        actExplicit.Should().Throw<ArgumentException>().WithParameterName("bootstrapData").WithMessage("*at least 20*got 19*");
    }

    [Fact]
    public void Fit_HeldOutDataWithWrongShape_ThrowsArgumentException()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        using var scope = NewDisposeScope();

        var act = () => TypicalityTest.Fit(flow, zeros(100, 3, dtype: ScalarType.Float64), batchSize: 5);

        act.Should().Throw<ArgumentException>().WithMessage("*shape*");
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Constructor_InvalidBootstrapStatistic_ThrowsArgumentException(double bad)
    {
        using var flow = GaussianFlows.StandardNormal(2);
        var statistics = Enumerable.Repeat(1.0, 200).ToArray();
        statistics[17] = bad;

        var act = () => new TypicalityTest(flow, 1.0, batchSize: 3, alpha: 0.05, statistics);

        act.Should().Throw<ArgumentException>().WithParameterName("bootstrapStatistics").WithMessage("*17*finite and ≥ 0*");
    }

    [Fact]
    public void Constructor_InvalidState_Throws()
    {
        using var flow = GaussianFlows.StandardNormal(2);
        var statistics = Enumerable.Repeat(1.0, 200).ToArray();

        FluentActions.Invoking(() => new TypicalityTest(flow, double.NaN, 3, 0.05, statistics))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("entropy");
        FluentActions.Invoking(() => new TypicalityTest(flow, 1.0, 3, 0.05, statistics.Take(150).ToArray()))
            .Should().Throw<ArgumentException>().WithParameterName("bootstrapStatistics").WithMessage("*at least 200*got 150*");
        FluentActions.Invoking(() => new TypicalityTest(flow, 1.0, 0, 0.05, statistics))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize");
        FluentActions.Invoking(() => new TypicalityTest(flow, 1.0, 3, 1.5, statistics))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("alpha");
        FluentActions.Invoking(() => new TypicalityTest(null!, 1.0, 3, 0.05, statistics))
            .Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new TypicalityTest(flow, 1.0, 3, 0.05, null!))
            .Should().Throw<ArgumentNullException>();
    }
}
