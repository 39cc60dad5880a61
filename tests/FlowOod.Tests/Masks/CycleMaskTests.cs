using System;
using System.Linq;
using FlowOod.Masks;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Masks;

public sealed class CycleMaskTests
{
    [Fact]
    public void Create_4x4Layers0To4_ConditionOnQuadrantITransformQuadrantIPlusOne()
    {
        var strategy = CycleMask.Instance;

        // Layer 0: 0 = top-left conditions, 1 = top-right is transformed.
        strategy.Create([1, 4, 4], 0).ShouldHaveLayoutInEveryChannel(
            "CCTT",
            "CCTT",
            "....",
            "....");
        // Layer 1: 1 = top-right conditions, 2 = bottom-right is transformed.
        strategy.Create([1, 4, 4], 1).ShouldHaveLayoutInEveryChannel(
            "..CC",
            "..CC",
            "..TT",
            "..TT");
        // Layer 2: 2 = bottom-right conditions, 3 = bottom-left is transformed.
        strategy.Create([1, 4, 4], 2).ShouldHaveLayoutInEveryChannel(
            "....",
            "....",
            "TTCC",
            "TTCC");
        // Layer 3: 3 = bottom-left conditions, 0 = top-left is transformed.
        strategy.Create([1, 4, 4], 3).ShouldHaveLayoutInEveryChannel(
            "TT..",
            "TT..",
            "CC..",
            "CC..");
        // Layer 4 starts the second cycle: the same as layer 0.
        strategy.Create([1, 4, 4], 4).ShouldHaveLayoutInEveryChannel(
            "CCTT",
            "CCTT",
            "....",
            "....");
    }

    [Fact]
    public void Create_RectangularSeveralChannels_QuadrantsAreHalfHeightByHalfWidthInEveryChannel()
    {
        var mask = CycleMask.Instance.Create([3, 2, 6], 2);

        mask.ShouldHaveLayoutInEveryChannel(
            "......",
            "TTTCCC");
    }

    [Fact]
    public void Create_2x2_EachQuadrantIsOnePixel()
    {
        CycleMask.Instance.Create([1, 2, 2], 3).ShouldHaveLayoutInEveryChannel(
            "T.",
            "C.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void Create_LayerPlusCycleLength_SameMask(int layer)
    {
        var first = CycleMask.Instance.Create([2, 4, 6], layer);
        var next = CycleMask.Instance.Create([2, 4, 6], layer + CycleMask.CycleLength);

        MaskGrids.SameLayout(first, next).Should().BeTrue();
        CycleMask.CycleLength.Should().Be(4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Create_AnyLayer_DisjointQuarterConditionsQuarterTransformsHalfUntouched(int layer)
    {
        var mask = CycleMask.Instance.Create([2, 6, 4], layer);
        var condition = mask.Condition.ToArray();
        var transform = mask.Transform.ToArray();

        mask.ShouldBeDisjoint();
        condition.Count(b => b).Should().Be(12);
        transform.Count(b => b).Should().Be(12);
        condition.Zip(transform).Count(p => !p.First && !p.Second).Should().Be(24);
        mask.IsChannelStructured.Should().BeFalse();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void Create_ConsecutiveLayers_TransformedQuadrantConditionsTheNextLayer(int layer)
    {
        var current = CycleMask.Instance.Create([1, 4, 4], layer);
        var next = CycleMask.Instance.Create([1, 4, 4], layer + 1);

        next.Condition.ToArray().Should().Equal(current.Transform.ToArray());
    }

    [Fact]
    public void QuadrantsAt_FirstEightLayers_TwoFullClockwiseCycles()
    {
        var pairs = Enumerable.Range(0, 8).Select(CycleMask.QuadrantsAt).ToArray();

        pairs.Should().Equal(
            (Quadrant.TopLeft, Quadrant.TopRight),
            (Quadrant.TopRight, Quadrant.BottomRight),
            (Quadrant.BottomRight, Quadrant.BottomLeft),
            (Quadrant.BottomLeft, Quadrant.TopLeft),
            (Quadrant.TopLeft, Quadrant.TopRight),
            (Quadrant.TopRight, Quadrant.BottomRight),
            (Quadrant.BottomRight, Quadrant.BottomLeft),
            (Quadrant.BottomLeft, Quadrant.TopLeft));
        ((int)Quadrant.TopLeft, (int)Quadrant.TopRight, (int)Quadrant.BottomRight, (int)Quadrant.BottomLeft)
            .Should().Be((0, 1, 2, 3));
    }

    [Fact]
    public void Create_OddHeight_ThrowsNamingShapeAndSizes()
    {
        var act = () => CycleMask.Instance.Create([1, 3, 4], 0);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("eventShape")
            .WithMessage("*cycle mask*H and W must be even*[1, 3, 4]*H = 3, W = 4*");
    }

    [Fact]
    public void Create_OddWidth_ThrowsNamingShapeAndSizes()
    {
        var act = () => CycleMask.Instance.Create([2, 4, 5], 1);

        act.Should().Throw<ArgumentException>().WithMessage("*H and W must be even*[2, 4, 5]*W = 5*");
    }

    [Fact]
    public void Create_VectorEvent_ThrowsNamingTheShape()
    {
        var act = () => CycleMask.Instance.Create([16], 0);

        act.Should().Throw<ArgumentException>().WithMessage("*cycle mask needs an image event shape [C, H, W]*[16]*");
    }

    [Fact]
    public void Create_NegativeLayer_Throws()
    {
        var act = () => CycleMask.Instance.Create([1, 4, 4], -3);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*-3*");
    }
}
