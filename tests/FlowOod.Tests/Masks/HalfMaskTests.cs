using System;
using System.Linq;
using FlowOod.Masks;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Masks;

public sealed class HalfMaskTests
{
    [Fact]
    public void Create_HorizontalEvenLayer_TopRowsConditionBottomRowsTransform()
    {
        HalfMask.Horizontal.Create([1, 4, 3], 0).ShouldHaveLayoutInEveryChannel(
            "CCC",
            "CCC",
            "TTT",
            "TTT");
    }

    [Fact]
    public void Create_HorizontalOddLayer_BottomRowsConditionTopRowsTransform()
    {
        HalfMask.Horizontal.Create([1, 4, 3], 1).ShouldHaveLayoutInEveryChannel(
            "TTT",
            "TTT",
            "CCC",
            "CCC");
    }

    [Fact]
    public void Create_HorizontalOddHeight_MiddleRowGoesWithBottomHalfOnEveryLayer()
    {
        HalfMask.Horizontal.Create([1, 5, 2], 0).ShouldHaveLayoutInEveryChannel(
            "CC",
            "CC",
            "TT",
            "TT",
            "TT");
        HalfMask.Horizontal.Create([1, 5, 2], 1).ShouldHaveLayoutInEveryChannel(
            "TT",
            "TT",
            "CC",
            "CC",
            "CC");
    }

    [Fact]
    public void Create_VerticalEvenLayer_LeftColumnsConditionRightColumnsTransform()
    {
        HalfMask.Vertical.Create([1, 3, 4], 0).ShouldHaveLayoutInEveryChannel(
            "CCTT",
            "CCTT",
            "CCTT");
    }

    [Fact]
    public void Create_VerticalOddLayer_RightColumnsConditionLeftColumnsTransform()
    {
        HalfMask.Vertical.Create([1, 3, 4], 1).ShouldHaveLayoutInEveryChannel(
            "TTCC",
            "TTCC",
            "TTCC");
    }

    [Fact]
    public void Create_VerticalOddWidth_MiddleColumnGoesWithRightHalfOnEveryLayer()
    {
        HalfMask.Vertical.Create([1, 2, 5], 0).ShouldHaveLayoutInEveryChannel(
            "CCTTT",
            "CCTTT");
        HalfMask.Vertical.Create([1, 2, 5], 1).ShouldHaveLayoutInEveryChannel(
            "TTCCC",
            "TTCCC");
    }

    [Fact]
    public void Create_SeveralChannels_SameSplitInEveryChannel()
    {
        var mask = HalfMask.Horizontal.Create([3, 2, 2], 0);

        mask.ShouldHaveLayoutInEveryChannel(
            "CC",
            "TT");
        mask.Condition.ToArray().Should().Equal(
            true, true, false, false,
            true, true, false, false,
            true, true, false, false);
    }

    [Theory]
    [InlineData(HalfMaskAxis.Horizontal, 0)]
    [InlineData(HalfMaskAxis.Horizontal, 1)]
    [InlineData(HalfMaskAxis.Horizontal, 6)]
    [InlineData(HalfMaskAxis.Vertical, 0)]
    [InlineData(HalfMaskAxis.Vertical, 3)]
    public void Create_AnyLayer_SetsAreDisjointAndCoverTheEvent(HalfMaskAxis axis, int layer)
    {
        var mask = new HalfMask(axis).Create([2, 5, 3], layer);

        mask.ShouldBeDisjoint();
        mask.Condition.ToArray().Zip(mask.Transform.ToArray()).Should().OnlyContain(p => p.First || p.Second);
    }

    [Theory]
    [InlineData(HalfMaskAxis.Horizontal)]
    [InlineData(HalfMaskAxis.Vertical)]
    public void Create_ConsecutiveLayers_AlternateAndSameParityRepeats(HalfMaskAxis axis)
    {
        var strategy = new HalfMask(axis);
        var even = strategy.Create([2, 4, 4], 0);
        var odd = strategy.Create([2, 4, 4], 1);

        odd.Condition.ToArray().Should().Equal(even.Transform.ToArray(), "odd layers swap the halves");
        odd.Transform.ToArray().Should().Equal(even.Condition.ToArray());
        MaskGrids.SameLayout(strategy.Create([2, 4, 4], 2), even).Should().BeTrue();
        MaskGrids.SameLayout(strategy.Create([2, 4, 4], 5), odd).Should().BeTrue();
    }

    [Fact]
    public void Create_HorizontalSingleRow_ThrowsNamingTheShape()
    {
        var act = () => HalfMask.Horizontal.Create([1, 1, 4], 0);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("eventShape")
            .WithMessage("*horizontal half mask needs at least 2 rows (H)*[1, 1, 4]*");
    }

    [Fact]
    public void Create_VerticalSingleColumn_ThrowsNamingTheShape()
    {
        var act = () => HalfMask.Vertical.Create([2, 4, 1], 0);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("eventShape")
            .WithMessage("*vertical half mask needs at least 2 columns (W)*[2, 4, 1]*");
    }

    [Fact]
    public void Create_VectorEvent_ThrowsNamingTheShape()
    {
        var act = () => HalfMask.Horizontal.Create([4, 4], 0);

        act.Should().Throw<ArgumentException>().WithMessage("*[C, H, W]*[4, 4]*");
    }

    [Fact]
    public void Create_NegativeLayer_Throws()
    {
        var act = () => HalfMask.Vertical.Create([1, 4, 4], -1);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*-1*");
    }

    [Fact]
    public void Ctor_UndefinedAxis_Throws()
    {
        var act = () => new HalfMask((HalfMaskAxis)7);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("axis").WithMessage("*7*");
    }

    [Fact]
    public void Presets_HorizontalAndVertical_HaveTheirAxisAndName()
    {
        HalfMask.Horizontal.Axis.Should().Be(HalfMaskAxis.Horizontal);
        HalfMask.Vertical.Axis.Should().Be(HalfMaskAxis.Vertical);
        HalfMask.Horizontal.ToString().Should().Be("Half(Horizontal)");
        HalfMask.Vertical.ToString().Should().Be("Half(Vertical)");
    }
}
