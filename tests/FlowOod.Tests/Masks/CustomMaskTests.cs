using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Masks;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Masks;

public sealed class CustomMaskTests
{
    // [1, 2, 3]: conditions on the corners, transforms two middle pixels, leaves two pixels untouched.
    private static readonly CouplingMask Corners = new(
        [1, 2, 3],
        [true, false, true, true, false, true],
        [false, true, false, false, false, false]);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(9)]
    public void Create_SingleFixedMask_ReturnedOnEveryLayer(int layer)
    {
        var mask = new CustomMask(Corners).Create([1, 2, 3], layer);

        mask.ShouldHaveLayoutInEveryChannel(
            "CTC",
            "C.C");
    }

    [Fact]
    public void Create_SeveralMasks_UsedInTurn()
    {
        var other = new CouplingMask([1, 2, 3], [false, false, false, true, true, true], [true, true, true, false, false, false]);
        var strategy = new CustomMask(Corners, other);

        Enumerable.Range(0, 5).Select(i => strategy.Create([1, 2, 3], i))
            .Should().Equal(Corners, other, Corners, other, Corners);
    }

    [Fact]
    public void Create_EventShapeDiffersFromFixedMask_ThrowsNamingBothShapes()
    {
        var act = () => new CustomMask(Corners).Create([1, 3, 2], 4);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("eventShape")
            .WithMessage("*laid out over event shape [1, 2, 3]*layer 4 has event shape [1, 3, 2]*");
    }

    [Fact]
    public void Ctor_MasksOverDifferentShapes_ThrowsNamingBoth()
    {
        var other = new CouplingMask([6], [true, true, true, false, false, false], [false, false, false, true, true, true]);

        var act = () => new CustomMask(Corners, other);

        act.Should().Throw<ArgumentException>().WithMessage("*mask 0 is over [1, 2, 3], mask 1 over [6]*");
    }

    [Fact]
    public void Ctor_NoMasks_Throws()
    {
        var act = () => new CustomMask(Array.Empty<CouplingMask>());

        act.Should().Throw<ArgumentException>().WithMessage("*at least one coupling mask*");
    }

    [Fact]
    public void Ctor_NullMaskInList_ThrowsNamingItsIndex()
    {
        var act = () => new CustomMask(Corners, null!);

        act.Should().Throw<ArgumentException>().WithMessage("*Coupling mask 1 of 2 is null*");
    }

    [Fact]
    public void Create_Function_ReceivesEventShapeCopyAndLayerIndex()
    {
        var calls = new List<(long[] Shape, int Layer)>();
        var strategy = new CustomMask((shape, layer) =>
        {
            calls.Add(((long[])shape.Clone(), layer));
            shape[0] = 99;
            return HalfMask.Horizontal.Create([1, 2, 3], layer);
        });
        long[] requested = [1, 2, 3];

        var mask = strategy.Create(requested, 3);

        calls.Should().ContainSingle();
        calls[0].Shape.Should().Equal(1, 2, 3);
        calls[0].Layer.Should().Be(3);
        requested.Should().Equal([1, 2, 3], "the function gets a copy of the shape");
        mask.ShouldHaveLayoutInEveryChannel(
            "TTT",
            "CCC");
    }

    [Fact]
    public void Create_FunctionReturnsMaskOverAnotherShape_ThrowsNamingBothShapes()
    {
        var strategy = new CustomMask((_, layer) => HalfMask.Horizontal.Create([1, 4, 4], layer));

        var act = () => strategy.Create([1, 2, 3], 2);

        act.Should().Throw<InvalidOperationException>().WithMessage("*returned a mask over [1, 4, 4]*event shape [1, 2, 3], layer 2*");
    }

    [Fact]
    public void Create_FunctionReturnsNull_Throws()
    {
        var strategy = new CustomMask((_, _) => null!);

        var act = () => strategy.Create([1, 2, 3], 0);

        act.Should().Throw<InvalidOperationException>().WithMessage("*returned null*[1, 2, 3], layer 0*");
    }

    [Fact]
    public void FromConditioning_NotAlternating_ComplementTransformedOnEveryLayer()
    {
        var strategy = CustomMask.FromConditioning([1, 2, 2], [true, false, false, true], alternate: false);

        foreach (var layer in new[] { 0, 1, 2 })
        {
            strategy.Create([1, 2, 2], layer).ShouldHaveLayoutInEveryChannel(
                "CT",
                "TC");
        }
    }

    [Fact]
    public void FromConditioning_Alternating_SwapsSetsOnOddLayers()
    {
        var strategy = CustomMask.FromConditioning([2, 1, 3], [true, true, false, false, false, true], alternate: true);

        var even = strategy.Create([2, 1, 3], 0);
        var odd = strategy.Create([2, 1, 3], 1);

        even.Condition.ToArray().Should().Equal(true, true, false, false, false, true);
        even.Transform.ToArray().Should().Equal(false, false, true, true, true, false);
        odd.Condition.ToArray().Should().Equal(even.Transform.ToArray());
        odd.Transform.ToArray().Should().Equal(even.Condition.ToArray());
        MaskGrids.SameLayout(strategy.Create([2, 1, 3], 4), even).Should().BeTrue();
        MaskGrids.SameLayout(strategy.Create([2, 1, 3], 7), odd).Should().BeTrue();
    }

    [Fact]
    public void FromConditioning_WrongLength_ThrowsWithBothCounts()
    {
        var act = () => CustomMask.FromConditioning([1, 2, 3], [true, false, true, false], alternate: true);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("condition")
            .WithMessage("*has 4 entries but event shape [1, 2, 3] has 6*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FromConditioning_OneValueOnly_Throws(bool value)
    {
        var act = () => CustomMask.FromConditioning([4], [value, value, value, value], alternate: false);

        act.Should().Throw<ArgumentException>().WithParameterName("condition").WithMessage($"*both true*all 4 are {value}*");
    }

    [Fact]
    public void FromConditioning_InvalidShape_Throws()
    {
        var act = () => CustomMask.FromConditioning([2, 0], [], alternate: false);

        act.Should().Throw<ArgumentException>().WithParameterName("eventShape").WithMessage("*[2, 0]*");
    }

    [Fact]
    public void Create_NegativeLayer_Throws()
    {
        var act = () => new CustomMask(Corners).Create([1, 2, 3], -1);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
