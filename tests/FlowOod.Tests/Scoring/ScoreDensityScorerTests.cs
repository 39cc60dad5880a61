using System;
using System.Linq;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScoreDensityScorerTests
{
    [Fact]
    public void Score_FlagsAnInputThatIsUnusualInEitherDirectionOfAnyMember()
    {
        using var scope = NewDisposeScope();
        using var mean = new StatisticScorer("mean", b => b.flatten(1).mean([1]));
        using var spread = new StatisticScorer("std", b => b.flatten(1).std(1));
        using var generator = new Generator(3, device: CPU);
        var inDistribution = rand([400, 1, 4, 4], generator: generator);
        using var density = ScoreDensityScorer.Fit([mean, spread], inDistribution);

        var typical = density.Score(rand([50, 1, 4, 4], generator: generator)).Average();
        double Of(Tensor image) => density.Score(image.unsqueeze(0))[0];
        using var half = 0.5.ToScalar();
        using var dark = 0.05.ToScalar();
        using var bright = 0.95.ToScalar();

        Of(full([1, 4, 4], half)).Should().BeGreaterThan(typical + 3, "a constant image has a typical mean but no spread");
        Of(full([1, 4, 4], dark)).Should().BeGreaterThan(typical + 3, "too dark: the mean is low");
        Of(full([1, 4, 4], bright)).Should().BeGreaterThan(typical + 3, "too bright: the mean is high (the other direction)");
    }

    [Fact]
    public void Score_IsTheNegativeLogOfTheProductOfOneDimensionalKdes()
    {
        using var scope = NewDisposeScope();
        using var mean = new StatisticScorer("mean", b => b.flatten(1).mean([1]));
        using var maximum = new StatisticScorer("max", b => b.flatten(1).amax([1]));
        using var generator = new Generator(4, device: CPU);
        var fit = rand([30, 1, 3, 3], generator: generator);
        using var density = ScoreDensityScorer.Fit([mean, maximum], fit);
        var kde = new IndependentKde([mean.Score(fit), maximum.Score(fit)], "samples");
        var batch = rand([5, 1, 3, 3], generator: generator);
        var m = mean.Score(batch);
        var x = maximum.Score(batch);

        var expected = Enumerable.Range(0, 5).Select(i => kde.NegativeLogDensity([m[i], x[i]])).ToArray();
        density.Score(batch).Should().Equal(expected, (a, b) => Math.Abs(a - b) <= 1e-9 * Math.Max(1, Math.Abs(b)), "the fit keeps the samples sorted, so sums differ only in rounding");
        density.FittedScores[0].Should().BeInAscendingOrder().And.HaveCount(30);
    }

    [Fact]
    public void Create_RefusesNoMembersARepeatedMemberAndMismatchedFits()
    {
        using var mean = new StatisticScorer("mean", b => b.flatten(1).mean([1]));
        double[][] fits = [[0.1, 0.2, 0.3]];

        var none = () => new ScoreDensityScorer([], fits);
        none.Should().Throw<ArgumentException>().WithParameterName("members").WithMessage("*1 to 64*got 0*");
        var twice = () => new ScoreDensityScorer([mean, mean], [[0.1, 0.2], [0.1, 0.2]]);
        twice.Should().Throw<ArgumentException>().WithParameterName("members").WithMessage("*twice*");
        var mismatch = () => new ScoreDensityScorer([mean], [[0.1, 0.2], [0.3, 0.4]]);
        mismatch.Should().Throw<ArgumentException>().WithParameterName("fittedScores").WithMessage("*1 members*2*");
        using var one = torch.zeros(1, 1, 2, 2);
        var tooFew = () => ScoreDensityScorer.Fit([mean], one);
        tooFew.Should().Throw<ArgumentException>().WithParameterName("heldOutInDistribution").WithMessage("*at least 2*");
    }

    [Fact]
    public void Fit_MemberGivesANonFiniteScore_ThrowsNamingTheMember()
    {
        using var scope = NewDisposeScope();
        using var broken = new StatisticScorer("broken", b => b.flatten(1).mean([1]).log().neg().log());
        var act = () => ScoreDensityScorer.Fit([broken], zeros(4, 1, 2, 2));
        act.Should().Throw<InvalidOperationException>().WithMessage("*broken*held-out example 0*finite*");
    }

    // A scorer whose score is one statistic of the pixels (not a component: never saved).
    private sealed class StatisticScorer(string name, Func<Tensor, Tensor> statistic) : IOodScorer
    {
        public string Name => name;

        public double[] Score(Tensor batch)
        {
            using var scope = NewDisposeScope();
            return statistic(batch).to(float64).data<double>().ToArray();
        }

        public void Dispose()
        {
        }
    }
}
