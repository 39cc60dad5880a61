using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The IBijector contract, checked for every registry case in float64 on prepared (non-identity) bijectors.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BijectorConformanceTests
{
    private const long Batch = 5;

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Forward_SampleBatch_FiniteOutputOfExpectedShapeAndLogDetPerExample(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);

        var (output, logDet) = bijector.Forward(input);

        output.shape.Should().Equal(TensorChecks.Batched(Batch, testCase.OutputEventShape));
        output.dtype.Should().Be(ScalarType.Float64);
        output.ShouldBeAllFinite("Forward output");
        logDet.shape.Should().Equal(Batch);
        logDet.dtype.Should().Be(ScalarType.Float64);
        logDet.ShouldBeAllFinite("Forward LogDet");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Inverse_SampleLatent_FiniteOutputOfInputShapeAndLogDetPerExample(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Any latent of the output shape is a valid Inverse input, even where it does not round-trip.
        var latent = randn(TensorChecks.Batched(Batch, testCase.OutputEventShape), dtype: ScalarType.Float64);

        var (output, logDet) = bijector.Inverse(latent);

        output.shape.Should().Equal(TensorChecks.Batched(Batch, testCase.EventShape));
        output.ShouldBeAllFinite("Inverse output");
        logDet.shape.Should().Equal(Batch);
        logDet.ShouldBeAllFinite("Inverse LogDet");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Inverse_OfForward_RecoversInput(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);

        var (latent, _) = bijector.Forward(input);
        var (recovered, _) = bijector.Inverse(latent);

        if (testCase.InverseIsExact)
        {
            recovered.ShouldEqualExactly(input, "Inverse(Forward(x)) on 8-bit inputs");
        }
        else
        {
            recovered.ShouldBeCloseTo(input, Tolerances.RoundTripRelative, Tolerances.RoundTripAbsolute, "Inverse(Forward(x))");
        }
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Forward_OfInverse_RecoversLatent(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var latent = testCase.SampleLatent(bijector, Batch);
        if (latent is null)
        {
            testCase.Latent.Should().Be(LatentKind.NotApplicable);
            testCase.Note.Should().NotBeNullOrWhiteSpace("a case without latent round trip must say why");
            return;
        }

        var (data, _) = bijector.Inverse(latent);
        var (recovered, _) = bijector.Forward(data);

        recovered.ShouldBeCloseTo(latent, Tolerances.RoundTripRelative, Tolerances.RoundTripAbsolute, "Forward(Inverse(y))");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void InverseLogDet_AtForwardOutput_NegatesForwardLogDet(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);

        var (latent, forwardLogDet) = bijector.Forward(input);
        var (_, inverseLogDet) = bijector.Inverse(latent);

        inverseLogDet.shape.Should().Equal(Batch);
        forwardLogDet.add(inverseLogDet).ShouldBeCloseTo(
            zeros(Batch, dtype: ScalarType.Float64), 0, Tolerances.LogDetSumAbsolute, "Forward LogDet + Inverse LogDet");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void ForwardLogDet_SingleExample_EqualsLogAbsDetOfAutogradJacobian(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        var example = testCase.SampleInput(1);

        var (jacobian, logDet) = TensorChecks.JacobianAndLogDet(bijector, example);
        var (sign, logAbsDet) = linalg.slogdet(jacobian);

        jacobian.shape.Should().Equal(testCase.Dimensions, testCase.Dimensions);
        sign.abs().ToDouble().Should().Be(1.0, "the Jacobian of a bijector is non-singular");
        logDet.reshape(1).ShouldBeCloseTo(
            logAbsDet.reshape(1), Tolerances.JacobianRelative, Tolerances.JacobianAbsolute, "LogDet vs log|det J|");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Backward_TrainModeForward_ReachesEveryParameterAndTheInput(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        bijector.train();
        bijector.zero_grad();
        var input = testCase.SampleInput(8).requires_grad_(true);

        var (output, logDet) = bijector.Forward(input);
        output.square().sum().add(logDet.sum()).backward();

        var missing = new List<string>();
        foreach (var (parameterName, parameter) in bijector.named_parameters())
        {
            if (!HasNonZeroGradient(parameter))
            {
                missing.Add(parameterName);
            }
        }

        if (!HasNonZeroGradient(input))
        {
            missing.Add("(input)");
        }

        missing.Should().BeEmpty("every parameter, and the input, must receive a non-zero gradient from the NLL-like loss");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Forward_PreparedBijector_IsNotTheIdentityWhereItHasParameters(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        if (!bijector.parameters().Any())
        {
            return;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);

        var (output, logDet) = bijector.Forward(input);

        // Guards every other check against vacuity: a fresh coupling (zero-initialised last conv) is the identity, and
        // fresh BatchNorm running statistics (mean 0, variance 1) would make eval() mode a plain affine pass-through.
        logDet.abs().min().ToDouble().Should().BeGreaterThan(1e-3, "the prepared st-networks must predict non-zero scales");
        foreach (var (bufferName, buffer) in bijector.named_buffers())
        {
            if (bufferName.EndsWith("running_mean", System.StringComparison.Ordinal))
            {
                // Zero-mean inputs (Gaussian, logit of uniform) keep an input norm's running mean small, so only
                // require that it moved at all; the running variances show the warm-up's effect clearly.
                buffer.abs().max().ToDouble().Should().BeGreaterThan(0, $"{bufferName} must have moved during warm-up");
            }
            else if (bufferName.EndsWith("running_var", System.StringComparison.Ordinal))
            {
                buffer.sub(1).abs().max().ToDouble().Should().BeGreaterThan(1e-3, $"{bufferName} must have moved during warm-up");
            }
        }

        if (output.shape.SequenceEqual(input.shape))
        {
            output.sub(input).abs().max().ToDouble().Should().BeGreaterThan(1e-3, "the prepared bijector must move its input");
        }
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void Forward_CalledTwice_IsDeterministicUnlessItDrawsNoise(string name)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);

        var (first, _) = bijector.Forward(input);
        var (second, _) = bijector.Forward(input);

        if (testCase.Deterministic)
        {
            second.ShouldEqualExactly(first, "a second Forward of the same input in eval mode");
        }
        else
        {
            equal(second, first).all().ToBoolean().Should().BeFalse("a noisy bijector draws fresh noise per call");
        }
    }

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void ForwardAndInverse_EvalOutputsDisposed_LiveTensorCountBackAtBaseline(string name) =>
        AssertNoLeak(name, train: false);

    [Theory]
    [MemberData(nameof(BijectorCases.Names), MemberType = typeof(BijectorCases))]
    public void ForwardAndInverse_TrainOutputsDisposed_LiveTensorCountBackAtBaseline(string name) =>
        AssertNoLeak(name, train: true);

    private static bool HasNonZeroGradient(Tensor tensor)
    {
        using var gradient = tensor.grad;
        return gradient is not null && gradient.abs().max().ToDouble() > 0.0;
    }

    private static void AssertNoLeak(string name, bool train)
    {
        var testCase = BijectorCases.Get(name);
        using var bijector = testCase.CreatePrepared();
        bijector.train(train);
        using var scope = NewDisposeScope();
        var input = testCase.SampleInput(4);
        DisposeScopeManager.Statistics.Reset();
        var baseline = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var (latent, forwardLogDet) = bijector.Forward(input);
        var (recovered, inverseLogDet) = bijector.Inverse(latent);
        latent.Dispose();
        forwardLogDet.Dispose();
        recovered.Dispose();
        inverseLogDet.Dispose();

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(
            baseline, $"Forward + Inverse must free every temporary ({DisposeScopeManager.Statistics})");
    }
}
