using System;
using System.IO;
using System.Linq;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Detection;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class TwoSidedScorerTests
{
    [Fact]
    public void Fit_KnownScores_CentreIsMedianAndScaleIsRobustSpread()
    {
        // Scores 1, 2, 3, 4, 100: median 3, |s − 3| = 2, 1, 0, 1, 97 → MAD 1, σ = 1.4826 (the outlier moves neither).
        using var inner = new ValueScorer();
        using var scope = NewDisposeScope();

        var scorer = TwoSidedScorer.Fit(inner, tensor(new double[] { 4, 1, 100, 3, 2 }));

        scorer.Center.Should().Be(3);
        scorer.Scale.Should().BeApproximately(1.4826, 1e-12);
        scorer.Name.Should().Be("two-sided Value");
    }

    [Fact]
    public void Score_BothSidesOfTheCentre_AreEquallyOod()
    {
        using var inner = new ValueScorer();
        using var scope = NewDisposeScope();
        var scorer = new TwoSidedScorer(inner, center: 10, scale: 2);

        var scores = scorer.Score(tensor(new double[] { 10, 14, 6, 11, double.PositiveInfinity }));

        scores.Should().Equal(0, 2, 2, 0.5, double.PositiveInfinity);
    }

    [Fact]
    public void Fit_ConstantScores_FallsBackOrThrowsNamingTheProblem()
    {
        using var inner = new ValueScorer();
        using var scope = NewDisposeScope();

        // MAD 0 but a spread exists: the standard deviation is used.
        TwoSidedScorer.Fit(inner, tensor(new double[] { 5, 5, 5, 5, 9 })).Scale.Should().BeApproximately(Math.Sqrt(3.2), 1e-12);
        FluentActions.Invoking(() => TwoSidedScorer.Fit(inner, tensor(new double[] { 5, 5, 5 })))
            .Should().Throw<InvalidOperationException>().WithMessage("*same score 5*");
        FluentActions.Invoking(() => TwoSidedScorer.Fit(inner, tensor(new double[] { 5 })))
            .Should().Throw<ArgumentException>().WithMessage("*at least 2 held-out examples*");
        FluentActions.Invoking(() => TwoSidedScorer.Fit(inner, tensor(new double[] { 1, double.NaN })))
            .Should().Throw<InvalidOperationException>().WithMessage("*non-finite*");
        FluentActions.Invoking(() => new TwoSidedScorer(inner, 0, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*scale*");
    }

    [Fact]
    public void Dispose_OwnsInnerOnlyWhenTold()
    {
        var inner = new ValueScorer();
        new TwoSidedScorer(inner, 0, 1).Dispose();
        inner.DisposeCalls.Should().Be(0);

        var owned = new TwoSidedScorer(inner, 0, 1, ownsInner: true);
        owned.Dispose();
        owned.Dispose();
        inner.DisposeCalls.Should().Be(1);
        owned.Invoking(s => s.Score(zeros(2))).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void ModelFile_TwoSidedNll_RoundTripsWithIdenticalScores()
    {
        random.manual_seed(4);
        using var flow = FlowOod.Models.TabularRealNvp.Create(3, new FlowOod.Models.TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 });
        using var scope = NewDisposeScope();
        var heldOut = GaussianFlows.Samples(50, 3).to_type(ScalarType.Float32);
        var batch = GaussianFlows.Samples(20, 3, std: 2).to_type(ScalarType.Float32);
        using var nll = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats);
        using var scorer = TwoSidedScorer.Fit(nll, heldOut);
        var path = Path.Combine(Path.GetTempPath(), $"two-sided-{Guid.NewGuid():N}.flowood");
        try
        {
            ModelFile.Save(scorer, path);
            using var loaded = ModelFile.LoadScorer(path);

            loaded.Should().BeOfType<TwoSidedScorer>().Which.Inner.Should().BeOfType<NegativeLogLikelihoodScorer>();
            loaded.Score(batch).Should().Equal(scorer.Score(batch));
            scorer.Score(batch).Should().Equal(nll.Score(batch).Select(s => Math.Abs(s - scorer.Center) / scorer.Scale));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
