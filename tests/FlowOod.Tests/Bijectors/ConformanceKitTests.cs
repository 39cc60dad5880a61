using System;
using FlowOod.Bijectors;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The conformance kit's own behaviour on bijectors written for these tests (the registry cases test FlowOod's bijectors).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConformanceKitTests
{
    [Fact]
    public void GradientsReachEveryParameter_ZeroElementParameter_IsNotReportedMissing()
    {
        var testCase = new BijectorCase
        {
            Name = "Scale with an empty parameter [3]",
            Create = () => new ScaleWithEmptyParameter(3, withEmpty: true),
            EventShape = [3],
        };

        var act = () => BijectorConformance.GradientsReachEveryParameter(testCase, ConformanceTolerances.Default);

        act.Should().NotThrow();
    }

    [Fact]
    public void GradientsReachEveryParameter_DetachedParameter_IsStillReported()
    {
        var testCase = new BijectorCase
        {
            Name = "Scale with a detached parameter [3]",
            Create = () => new ScaleWithEmptyParameter(3, withEmpty: false),
            EventShape = [3],
        };

        var act = () => BijectorConformance.GradientsReachEveryParameter(testCase, ConformanceTolerances.Default);

        act.Should().Throw<ConformanceException>().WithMessage("*No gradient reached: unused*");
    }

    // y = x ⊙ exp(log_scale); `unused` is a parameter that never enters the computation: empty, or [C] (a real bug).
    private sealed class ScaleWithEmptyParameter : Bijector
    {
        private readonly Parameter log_scale;
        private readonly Parameter unused;

        public ScaleWithEmptyParameter(long channels, bool withEmpty)
            : base(nameof(ScaleWithEmptyParameter))
        {
            log_scale = new Parameter(zeros(channels).DetachFromDisposeScope());
            unused = new Parameter(zeros(withEmpty ? 0 : channels).DetachFromDisposeScope());
            RegisterComponents();
        }

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) =>
            (input.mul(log_scale.exp()), log_scale.sum().expand(input.shape[0]).contiguous());

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) =>
            (input.mul(log_scale.neg().exp()), log_scale.sum().neg().expand(input.shape[0]).contiguous());
    }
}
