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
    public void Verify_NoisyAndParametricCases_LeavesTorchsGlobalGeneratorUntouched()
    {
        // Both constructors draw nothing random, so any change of the global generator's state would be the kit's.
        var noisy = BijectorCases.Get("UniformDequantization(noise on) [1,3,3]");
        var parametric = new BijectorCase
        {
            Name = "ActNorm(initialised from a fixed batch) [2,2,2]",
            Create = () =>
            {
                var actNorm = new ActNorm(2);
                using var batch = TestScalars.Arange(0, 32, dtype: ScalarType.Float32).reshape(4, 2, 2, 2).TimesInPlace(0.3).sin_();
                actNorm.InitializeFrom(batch);
                return actNorm;
            },
            EventShape = [2, 2, 2],
        };
        random.manual_seed(123);
        using var before = random.get_rng_state();

        BijectorConformance.Verify(noisy);
        BijectorConformance.Verify(parametric);

        using var after = random.get_rng_state();
        equal(after, before).all().ReadBoolean().Should().BeTrue("the kit draws its perturbations, inputs, latents and noise from generators of its own");
    }

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

    [Fact]
    public void Perturb_WideWeight_NoiseAtMostOneOverSqrtFanIn_BiasNoiseUncapped()
    {
        random.manual_seed(6);
        using var linear = nn.Linear(400, 300);
        using (no_grad())
        {
            linear.weight!.zero_();
            linear.bias!.zero_();
        }

        BijectorCase.Perturb(linear);

        // 1/√400 = 0.05 (not the plain 0.1, which would make the noise alone amplify by 0.1·√400 = 2 per layer).
        linear.weight!.std().ReadDouble().Should().BeApproximately(0.05, 0.0025);
        linear.bias!.std().ReadDouble().Should().BeApproximately(BijectorCase.PerturbationStd, 0.012);
    }

    [Fact]
    public void Perturb_NarrowWeight_GetsThePlainStd()
    {
        random.manual_seed(7);
        using var linear = nn.Linear(50, 200);
        using (no_grad())
        {
            linear.weight!.zero_();
        }

        BijectorCase.Perturb(linear);

        linear.weight!.std().ReadDouble().Should().BeApproximately(BijectorCase.PerturbationStd, 0.003);
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
