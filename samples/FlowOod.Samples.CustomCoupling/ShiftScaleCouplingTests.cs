using System;
using FlowOod.Masks;
using FlowOod.Testing;
using FluentAssertions;
using Xunit;

namespace FlowOod.Samples.CustomCoupling;

// How a user unit-tests their own coupling layer with FlowOod.Testing: one case per configuration, then either the
// framework-neutral BijectorConformance.Verify or the FluentAssertions extensions. The kit perturbs the parameters and
// runs everything in float64, so even a freshly initialised layer is tested non-trivially. The kit never seeds torch's
// global generator; the layer's constructor draws its initial weights from it, so each test seeds it for a repeatable
// run (xunit builds the class once per test).
[CollectionDefinition(nameof(ShiftScaleCouplingTests), DisableParallelization = true)]
[Collection(nameof(ShiftScaleCouplingTests))]
public sealed class ShiftScaleCouplingTests
{
    public ShiftScaleCouplingTests() => TorchSharp.torch.random.manual_seed(20240611);

    private static BijectorCase Case(IMaskStrategy mask, int layer, bool forgetLogDet = false) => new()
    {
        Name = $"ShiftScaleCoupling({mask}, layer {layer}{(forgetLogDet ? ", forgets LogDet" : "")})",
        Create = () => new ShiftScaleCoupling([2, 4, 4], mask, layer, forgetLogDet: forgetLogDet),
        EventShape = [2, 4, 4],
    };

    [Fact]
    public void Checkerboard_PassesEveryConformanceCheck() =>
        Case(CheckerboardMask.Instance, 0).Should().Conform();

    [Fact]
    public void ChannelMask_PassesEveryConformanceCheck() =>
        Case(ChannelMask.Instance, 1).Should().Conform();

    [Fact]
    public void CycleMask_IsInvertibleWithExactLogDet()
    {
        var testCase = Case(CycleMask.Instance, 1);

        testCase.Should().BeInvertible().And.HaveExactLogDet().And.PassGradientsToEveryParameter();
    }

    [Fact]
    public void FrameworkNeutralEntryPoint_Works() =>
        BijectorConformance.Verify(Case(HalfMask.Horizontal, 0));

    [Fact]
    public void ForgottenLogDet_IsCaughtByTheJacobianCheck()
    {
        var broken = Case(CheckerboardMask.Instance, 0, forgetLogDet: true);

        Action act = () => broken.Should().HaveExactLogDet();

        act.Should().Throw<Exception>().WithMessage("*LogDet vs log|det J|*");
    }
}
