using System;
using FlowOod.Masks;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Masks;

public sealed class QuadrantMaskTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    public void Create_FixedPair_SameLayoutOnEveryLayer(int layer)
    {
        var strategy = new QuadrantMask(Quadrant.BottomLeft, Quadrant.TopRight);

        strategy.Create([2, 4, 4], layer).ShouldHaveLayoutInEveryChannel(
            "..TT",
            "..TT",
            "CC..",
            "CC..");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Create_CycleMaskPairOfLayer_EqualsCycleMaskLayer(int layer)
    {
        var (condition, transform) = CycleMask.QuadrantsAt(layer);

        var fixedPair = new QuadrantMask(condition, transform).Create([1, 4, 6], 0);

        MaskGrids.SameLayout(fixedPair, CycleMask.Instance.Create([1, 4, 6], layer)).Should().BeTrue();
    }

    [Fact]
    public void Ctor_SameQuadrantTwice_ThrowsNamingIt()
    {
        var act = () => new QuadrantMask(Quadrant.TopRight, Quadrant.TopRight);

        act.Should().Throw<ArgumentException>().WithMessage("*must differ*TopRight*");
    }

    [Fact]
    public void Ctor_UndefinedQuadrant_ThrowsNamingTheValue()
    {
        var act = () => new QuadrantMask(Quadrant.TopLeft, (Quadrant)4);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("transformQuadrant").WithMessage("*4*");
    }

    [Fact]
    public void Create_OddWidth_Throws()
    {
        var act = () => new QuadrantMask(Quadrant.TopLeft, Quadrant.BottomRight).Create([1, 4, 3], 0);

        act.Should().Throw<ArgumentException>().WithMessage("*quadrant mask*even*[1, 4, 3]*");
    }

    [Fact]
    public void Properties_AndToString_ShowThePair()
    {
        var strategy = new QuadrantMask(Quadrant.BottomRight, Quadrant.TopLeft);

        strategy.ConditionQuadrant.Should().Be(Quadrant.BottomRight);
        strategy.TransformQuadrant.Should().Be(Quadrant.TopLeft);
        strategy.ToString().Should().Be("Quadrant(BottomRight -> TopLeft)");
    }
}
