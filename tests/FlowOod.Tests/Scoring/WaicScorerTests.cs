using System;
using System.Linq;
using FlowOod.Metrics;
using FlowOod.Scoring;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class WaicScorerTests
{
    // Three unit-variance Gaussians on R² whose means disagree along the first axis only.
    private static readonly double[] MeansAlongFirstAxis = [-2, 0, 2];

    [Fact]
    public void Score_KnownPoint_EqualsSampleVarianceMinusMeanOfLogDensities()
    {
        // At x = (1.5, 0): log p_k = −½(1.5 − μ_k)² − log 2π = {−6.125, −1.125, −0.125} − log 2π; their mean is
        // −59/24 − log 2π and their sample variance (1/(K − 1)) is 31/3, so −WAIC = 31/3 + 59/24 + log 2π.
        using var ensemble = new Ensemble(MeansAlongFirstAxis);
        using var scope = NewDisposeScope();

        var score = new WaicScorer(ensemble.Flows).Score(tensor(new[,] { { 1.5, 0.0 } })).Single();

        score.Should().BeApproximately((31.0 / 3) + (59.0 / 24) + Math.Log(2 * Math.PI), 1e-12);
    }

    [Fact]
    public void Score_Batch_EqualsFormulaOnPerFlowNegativeLogLikelihoods()
    {
        using var ensemble = new Ensemble([0.3, -0.5, 1.0, 0.0], std: [1, 2, 0.7, 1.3]);
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        var batch = GaussianFlows.Samples(25, 3, std: 1.5);
        var scorer = new WaicScorer(ensemble.Flows, chunkSize: 4);

        var scores = scorer.Score(batch);
        var logLikelihoods = scorer.LogLikelihoods(batch);

        var perFlow = ensemble.Flows.Select(f => new NegativeLogLikelihoodScorer(f, LikelihoodUnit.Nats).Score(batch).Select(n => -n).ToArray()).ToArray();
        logLikelihoods.Should().HaveCount(4);
        for (int k = 0; k < 4; k++)
        {
            logLikelihoods[k].Should().Equal(perFlow[k], $"flow {k}");
        }

        for (int i = 0; i < 25; i++)
        {
            var values = perFlow.Select(lp => lp[i]).ToArray();
            var mean = values.Sum() / values.Length;
            var sampleVariance = values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1);
            scores[i].Should().BeApproximately(sampleVariance - mean, 1e-10 * Math.Max(1, Math.Abs(sampleVariance - mean)), $"example {i}");
        }
    }

    [Fact]
    public void Score_EnsembleDisagreement_FlagsInputsThatMeanLikelihoodFindsMoreLikely()
    {
        // Inputs near (0, ±2): every model agrees (log p_k differ only through ½μ_k²). Inputs near (±1.5, 0): closer to
        // all means, so a higher mean log-likelihood, but the models disagree strongly. Mean likelihood prefers the
        // disputed inputs; WAIC flags them.
        using var ensemble = new Ensemble(MeansAlongFirstAxis);
        using var scope = NewDisposeScope();
        random.manual_seed(22);
        var agreed = tensor(new[,] { { 0.0, 2.0 } }).repeat(50, 1).PlusInPlace(randn(50, 2, dtype: ScalarType.Float64).TimesInPlace(0.1));
        agreed.narrow(0, 0, 25).neg_();
        var disputed = tensor(new[,] { { 1.5, 0.0 } }).repeat(50, 1).PlusInPlace(randn(50, 2, dtype: ScalarType.Float64).TimesInPlace(0.1));
        disputed.narrow(0, 0, 25).neg_();
        var scorer = new WaicScorer(ensemble.Flows);

        var meanNll = (Tensor batch) => scorer.LogLikelihoods(batch) is var l
            ? Enumerable.Range(0, (int)batch.shape[0]).Select(i => -l.Average(lp => lp[i])).ToArray()
            : throw new InvalidOperationException();

        OodMetrics.Auroc(meanNll(agreed), meanNll(disputed)).Should().Be(0, "the mean likelihood ranks every disputed input as more in-distribution");
        OodMetrics.Auroc(scorer.Score(agreed), scorer.Score(disputed)).Should().Be(1, "WAIC ranks every disputed input as more OOD");
    }

    [Fact]
    public void Score_IdenticalFlows_EqualsNegativeLogLikelihood()
    {
        using var ensemble = new Ensemble([0, 0]);
        using var scope = NewDisposeScope();
        random.manual_seed(23);
        var batch = GaussianFlows.Samples(10, 2);

        var scores = new WaicScorer(ensemble.Flows).Score(batch);

        scores.Should().Equal(new NegativeLogLikelihoodScorer(ensemble.Flows[0], LikelihoodUnit.Nats).Score(batch), "zero variance leaves −mean log p");
    }

    [Fact]
    public void Constructor_StateOfScorer_ReproducesScoresExactly()
    {
        using var flows = new DisposableFlows(
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 1),
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 2),
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 3));
        using var scope = NewDisposeScope();
        var scorer = new WaicScorer(flows.Items, chunkSize: 4, noise: ScoringNoise.Seeded(5));
        var batch = ScoringFlows.EightBitImages(9, ScalarType.Float32);

        var reloaded = new WaicScorer(scorer.Ensemble, scorer.ChunkSize, scorer.Noise);

        var scores = scorer.Score(batch);
        scores.Should().OnlyContain(s => double.IsFinite(s));
        reloaded.Score(batch).Should().Equal(scores);
        reloaded.Ensemble.Should().Equal(flows.Items);
    }

    [Fact]
    public void Constructor_FewerThanTwoFlows_ThrowsArgumentException()
    {
        using var ensemble = new Ensemble([0]);

        var act = () => new WaicScorer(ensemble.Flows.Take(1).ToArray());
        var empty = () => new WaicScorer([]);

        act.Should().Throw<ArgumentException>().WithParameterName("ensemble").WithMessage("*at least 2 flows*got 1*");
        empty.Should().Throw<ArgumentException>().WithMessage("*at least 2 flows*got 0*");
    }

    [Fact]
    public void Constructor_NullListOrFlow_Throws()
    {
        using var ensemble = new Ensemble([0, 1]);

        FluentActions.Invoking(() => new WaicScorer(null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new WaicScorer([ensemble.Flows[0], null!, ensemble.Flows[1]]))
            .Should().Throw<ArgumentException>().WithMessage("*Flow 1*null*");
        FluentActions.Invoking(() => new WaicScorer(ensemble.Flows, chunkSize: 0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Constructor_DifferentEventShapes_ThrowsArgumentExceptionNamingBoth()
    {
        using var two = GaussianFlows.StandardNormal(2);
        using var three = GaussianFlows.StandardNormal(3);

        var act = () => new WaicScorer([two, two, three]);

        act.Should().Throw<ArgumentException>().WithMessage("*same event shape*[2]*flow 2*[3]*");
    }

    [Fact]
    public void Score_BadInput_ThrowsArgumentExceptionNamingTheProblem()
    {
        using var ensemble = new Ensemble([0, 1]);
        using var scope = NewDisposeScope();
        var withNaN = zeros(3, 2, dtype: ScalarType.Float64);
        withNaN[2, 0] = double.NaN;
        var scorer = new WaicScorer(ensemble.Flows);

        FluentActions.Invoking(() => scorer.Score(zeros(3, 5, dtype: ScalarType.Float64))).Should().Throw<ArgumentException>().WithMessage("*shape*");
        FluentActions.Invoking(() => scorer.Score(withNaN)).Should().Throw<ArgumentException>().WithMessage("*NaN*");
        FluentActions.Invoking(() => scorer.Score(zeros(0, 2, dtype: ScalarType.Float64))).Should().Throw<ArgumentException>().WithMessage("*empty*");
    }

    // Flows N(μ_k e₁, σ_k² I) on R^D (D = 2 for scalar means along the first axis, or 3 when std is given).
    private sealed class Ensemble : IDisposable
    {
        public Ensemble(double[] firstAxisMeans, double[]? std = null)
        {
            var dimensions = std is null ? 2 : 3;
            Flows = firstAxisMeans.Select((m, k) =>
            {
                var mean = new double[dimensions];
                mean[0] = m;
                var scale = std is null ? null : Enumerable.Repeat(std[k], dimensions).ToArray();
                return GaussianFlows.Create(mean, scale);
            }).ToArray();
        }

        public NormalizingFlow[] Flows { get; }

        public void Dispose()
        {
            foreach (var flow in Flows)
            {
                flow.Dispose();
            }
        }
    }

    private sealed class DisposableFlows(params NormalizingFlow[] items) : IDisposable
    {
        public NormalizingFlow[] Items { get; } = items;

        public void Dispose()
        {
            foreach (var flow in Items)
            {
                flow.Dispose();
            }
        }
    }
}
