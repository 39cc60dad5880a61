using System;
using System.Linq;
using FlowOod.Metrics;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Metrics;

public sealed class OodMetricsTests
{
    [Fact]
    public void Auroc_PerfectSeparation_ReturnsOne()
    {
        // Every OOD score exceeds every in-distribution score: 2·3 = 6 wins out of 6 pairs.
        OodMetrics.Auroc([0.1, 0.5], [0.6, 2.0, 9.0]).Should().Be(1.0);
    }

    [Fact]
    public void Auroc_Reversed_ReturnsZero()
    {
        // Every OOD score is below every in-distribution score: 0 wins, 0 ties out of 6 pairs.
        OodMetrics.Auroc([0.6, 2.0, 9.0], [0.1, 0.5]).Should().Be(0.0);
    }

    [Fact]
    public void Auroc_AllTied_ReturnsHalf()
    {
        // 4·3 = 12 pairs, all ties: 12·½ / 12 = ½.
        OodMetrics.Auroc([3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0]).Should().Be(0.5);
    }

    [Fact]
    public void Auroc_OverlappingWithTies_MatchesHandCount()
    {
        // in = {1, 2, 3}, ood = {2, 3, 4}; count, for each OOD score, wins (ood > in) + ½ ties:
        //   ood 2: > 1, = 2, < 3       → 1 + ½     = 1.5
        //   ood 3: > 1, > 2, = 3       → 2 + ½     = 2.5
        //   ood 4: > 1, > 2, > 3       → 3         = 3
        // total 7 out of 3·3 = 9 pairs → 7/9.
        // Cross-check with ranks: pooled sorted 1 | 2 2 | 3 3 | 4 → ranks 1 | 2.5 2.5 | 4.5 4.5 | 6;
        // R_ood = 2.5 + 4.5 + 6 = 13, U = 13 − 3·4/2 = 7.
        OodMetrics.Auroc([1, 2, 3], [2, 3, 4]).Should().BeApproximately(7.0 / 9.0, 1e-15);
    }

    [Fact]
    public void Auroc_UnequalSizesWithTies_MatchesHandCount()
    {
        // in = {0, 0, 1}, ood = {0, 2}:
        //   ood 0: = 0, = 0, < 1 → ½ + ½   = 1
        //   ood 2: > 0, > 0, > 1 → 3       = 3
        // total 4 out of 3·2 = 6 pairs → 2/3.
        OodMetrics.Auroc([0, 0, 1], [0, 2]).Should().BeApproximately(2.0 / 3.0, 1e-15);
    }

    [Fact]
    public void Auroc_SingleExamplePerSide_IsOneHalfOrZero()
    {
        OodMetrics.Auroc([1], [2]).Should().Be(1.0);
        OodMetrics.Auroc([2], [2]).Should().Be(0.5);
        OodMetrics.Auroc([2], [1]).Should().Be(0.0);
    }

    [Fact]
    public void Auroc_InfiniteScoresTied_CountHalf()
    {
        // A flow can assign p(x) = 0, i.e. score −log p = +∞; two such scores are tied.
        // in = {+∞, 1}, ood = {+∞, 2}:
        //   ood +∞: = +∞, > 1 → ½ + 1 = 1.5
        //   ood 2:  < +∞, > 1 → 1     = 1
        // total 2.5 out of 4 pairs → 0.625.
        OodMetrics.Auroc([double.PositiveInfinity, 1], [double.PositiveInfinity, 2]).Should().Be(0.625);

        // in = {−∞, −∞}, ood = {−∞, 0}: ood −∞ ties twice (1), ood 0 wins twice (2) → 3/4.
        OodMetrics.Auroc([double.NegativeInfinity, double.NegativeInfinity], [double.NegativeInfinity, 0]).Should().Be(0.75);

        // All +∞ → all ties → ½.
        OodMetrics.Auroc([double.PositiveInfinity, double.PositiveInfinity], [double.PositiveInfinity]).Should().Be(0.5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Auroc_NegatedScores_SumToOne(int seed)
    {
        var random = new Random(seed);
        var inDistribution = Enumerable.Range(0, 40).Select(_ => random.NextDouble()).ToArray();
        var ood = Enumerable.Range(0, 25).Select(_ => random.NextDouble() + 0.2).ToArray();

        var auroc = OodMetrics.Auroc(inDistribution, ood);
        var negated = OodMetrics.Auroc(inDistribution.Select(s => -s).ToArray(), ood.Select(s => -s).ToArray());

        (auroc + negated).Should().BeApproximately(1.0, 1e-12);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Auroc_StrictlyIncreasingTransform_IsInvariant(int seed)
    {
        // Quarter-integers 0..5 keep ties and map exactly (no two values collapse) under both transforms.
        var random = new Random(seed);
        var inDistribution = Enumerable.Range(0, 30).Select(_ => random.Next(0, 21) / 4.0).ToArray();
        var ood = Enumerable.Range(0, 20).Select(_ => random.Next(4, 25) / 4.0).ToArray();

        var auroc = OodMetrics.Auroc(inDistribution, ood);

        OodMetrics.Auroc(inDistribution.Select(Math.Exp).ToArray(), ood.Select(Math.Exp).ToArray()).Should().Be(auroc);
        OodMetrics.Auroc(inDistribution.Select(s => (2.5 * s) - 3).ToArray(), ood.Select(s => (2.5 * s) - 3).ToArray()).Should().Be(auroc);
    }

    [Fact]
    public void Auroc_ManyTies_MatchesBruteForcePairCount()
    {
        var random = new Random(50);
        for (int trial = 0; trial < 50; trial++)
        {
            var inDistribution = Enumerable.Range(0, random.Next(1, 31)).Select(_ => (double)random.Next(0, 6)).ToArray();
            var ood = Enumerable.Range(0, random.Next(1, 31)).Select(_ => (double)random.Next(0, 6)).ToArray();

            OodMetrics.Auroc(inDistribution, ood).Should().BeApproximately(
                BruteForce(inDistribution, ood), 1e-12, $"trial {trial}: in = [{string.Join(", ", inDistribution)}], ood = [{string.Join(", ", ood)}]");
        }
    }

    [Fact]
    public void Auroc_ManyTiesIncludingInfinities_MatchesBruteForcePairCount()
    {
        double[] values = [double.NegativeInfinity, -1, 0, 0.5, 3, double.PositiveInfinity];
        var random = new Random(51);
        for (int trial = 0; trial < 50; trial++)
        {
            var inDistribution = Enumerable.Range(0, random.Next(1, 31)).Select(_ => values[random.Next(values.Length)]).ToArray();
            var ood = Enumerable.Range(0, random.Next(1, 31)).Select(_ => values[random.Next(values.Length)]).ToArray();

            OodMetrics.Auroc(inDistribution, ood).Should().BeApproximately(
                BruteForce(inDistribution, ood), 1e-12, $"trial {trial}: in = [{string.Join(", ", inDistribution)}], ood = [{string.Join(", ", ood)}]");
        }
    }

    [Fact]
    public void Auroc_ShuffledInputs_ReturnsTheSameValue()
    {
        var random = new Random(7);
        var inDistribution = Enumerable.Range(0, 50).Select(_ => (double)random.Next(0, 6)).ToArray();
        var ood = Enumerable.Range(0, 40).Select(_ => (double)random.Next(1, 7)).ToArray();

        var auroc = OodMetrics.Auroc(inDistribution, ood);
        random.Shuffle(inDistribution);
        random.Shuffle(ood);

        OodMetrics.Auroc(inDistribution, ood).Should().BeApproximately(auroc, 1e-15);
    }

    [Fact]
    public void Auroc_Inputs_AreNotModified()
    {
        double[] inDistribution = [3, 1, 2];
        double[] ood = [5, 0, 4];

        OodMetrics.Auroc(inDistribution, ood);

        inDistribution.Should().Equal(3, 1, 2);
        ood.Should().Equal(5, 0, 4);
    }

    [Fact]
    public void Auroc_EmptyInDistributionSet_ThrowsArgumentException()
    {
        var act = () => OodMetrics.Auroc([], [1.0]);

        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Auroc_EmptyOodSet_ThrowsArgumentException()
    {
        var act = () => OodMetrics.Auroc([1.0], []);

        act.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Auroc_NaNScore_ThrowsArgumentException(bool inInDistribution)
    {
        double[] withNaN = [1.0, double.NaN, 2.0];
        double[] clean = [0.5, 3.0];

        var act = () => inInDistribution ? OodMetrics.Auroc(withNaN, clean) : OodMetrics.Auroc(clean, withNaN);

        act.Should().Throw<ArgumentException>().WithMessage("*NaN*");
    }

    private static double BruteForce(double[] inDistribution, double[] ood)
    {
        double wins = 0;
        foreach (var o in ood)
        {
            foreach (var i in inDistribution)
            {
                wins += o > i ? 1.0 : o == i ? 0.5 : 0.0;
            }
        }

        return wins / (ood.Length * (double)inDistribution.Length);
    }
}
