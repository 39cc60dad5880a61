using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The scale-activation presets against their closed forms, and how AffineCoupling and AdditiveCoupling use them.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScaleActivationTests
{
    private static readonly double[] RawValues = [-1e6, -40, -7.5, -2, -0.3, 0, 0.3, 2, 7.5, 40, 1e6];

    [Fact]
    public void LogScale_GlowSigmoid_EqualsLogSigmoidOfRawPlusTwo()
    {
        using var scope = NewDisposeScope();
        var raw = tensor(RawValues, dtype: ScalarType.Float64);

        var s = ScaleActivation.GlowSigmoid.LogScale(raw, null);

        // log sigmoid(z) = -log(1 + e^-z), written stably for both signs of z.
        var expected = RawValues.Select(x => x + 2).Select(z => z >= 0 ? -double.LogP1(Math.Exp(-z)) : z - double.LogP1(Math.Exp(z)));
        // libtorch evaluates log(1 + e^-z) without log1p, so for large z it is accurate in absolute terms only (~1 ulp of 1).
        s.ShouldBeCloseTo(tensor(expected.ToArray(), dtype: ScalarType.Float64), 1e-14, 1e-15, "log sigmoid(ŝ + 2)");
        s.le(ScalarMath.Zero).all().ReadBoolean().Should().BeTrue("sigmoid(ŝ + 2) ≤ 1, so every Glow coupling contracts");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void LogScale_SoftClamp_EqualsScaledArctanAndStaysBelowBound(double bound)
    {
        using var scope = NewDisposeScope();
        var raw = tensor(RawValues, dtype: ScalarType.Float64);

        var s = ScaleActivation.SoftClamp(bound).LogScale(raw, null);

        var expected = RawValues.Select(x => bound * 2 / Math.PI * Math.Atan(x / bound)).ToArray();
        s.ShouldBeCloseTo(tensor(expected, dtype: ScalarType.Float64), 1e-14, 0, "c·(2/π)·atan(ŝ/c)");
        s.abs().max().ReadDouble().Should().BeLessThan(bound);
    }

    [Fact]
    public void LogScale_RealNvpTanh_IsLearnableScaleTimesTanh()
    {
        using var scope = NewDisposeScope();
        var raw = tensor(new[] { -3.0, 0.5, 2.0, -0.1, 4.0, 1.0 }, dtype: ScalarType.Float64).reshape(1, 2, 3);
        var sigma = tensor(new[] { 0.5, -2.0 }, dtype: ScalarType.Float64).reshape(2, 1);

        var s = ScaleActivation.RealNvpTanh.LogScale(raw, sigma);

        s.ShouldEqualExactly(raw.tanh().mul(sigma), "σ ⊙ tanh(ŝ)");
        ScaleActivation.RealNvpTanh.UsesLearnableScale.Should().BeTrue();
        ScaleActivation.GlowSigmoid.UsesLearnableScale.Should().BeFalse();
        ScaleActivation.SoftClamp(1).UsesLearnableScale.Should().BeFalse();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void SoftClamp_NonPositiveOrNonFiniteBound_ThrowsNamingTheValue(double bound)
    {
        var act = () => ScaleActivation.SoftClamp(bound);

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("bound");
    }

    [Fact]
    public void Constructor_DefaultActivation_IsRealNvpTanhWithScaleParameter()
    {
        using var coupling = new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1));

        coupling.ScaleActivation.Should().BeSameAs(ScaleActivation.RealNvpTanh);
        var scale = coupling.named_parameters(recurse: false).Should().ContainSingle(p => p.name == "scale").Subject.parameter;
        scale.shape.Should().Equal(2, 1, 1);
    }

    [Theory]
    [InlineData("GlowSigmoid")]
    [InlineData("SoftClamp")]
    public void Constructor_ActivationWithoutLearnableScale_HasNoScaleParameter(string preset)
    {
        var activation = preset == "GlowSigmoid" ? ScaleActivation.GlowSigmoid : ScaleActivation.SoftClamp(2);
        using var coupling = new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1), activation);

        coupling.named_parameters(recurse: false).Should().BeEmpty();
        coupling.named_parameters().Should().OnlyContain(p => p.name.StartsWith("st_net.", StringComparison.Ordinal));
    }

    [Fact]
    public void Forward_ExplicitRealNvpTanh_EqualsDefaultBitForBit()
    {
        var implicitCase = CouplingCase(null);
        var explicitCase = CouplingCase(ScaleActivation.RealNvpTanh);
        random.manual_seed(5); // the kit seeds only its own perturbation; the two constructors must start alike too
        using var implicitCoupling = implicitCase.CreatePrepared(seed: 5);
        random.manual_seed(5);
        using var explicitCoupling = explicitCase.CreatePrepared(seed: 5);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        random.manual_seed(6);
        var input = implicitCase.SampleInput(4);

        var (implicitOutput, implicitLogDet) = implicitCoupling.Forward(input);
        var (explicitOutput, explicitLogDet) = explicitCoupling.Forward(input);

        explicitOutput.ShouldEqualExactly(implicitOutput, "output");
        explicitLogDet.ShouldEqualExactly(implicitLogDet, "LogDet");
    }

    [Fact]
    public void Forward_FreshGlowSigmoidCoupling_ScalesTransformedEntriesBySigmoidOfTwo()
    {
        // A fresh ResNet st-network's last conv is zero, so ŝ = t = 0 and every transformed entry is multiplied by
        // sigmoid(2): LogDet = (transformed entries)·log sigmoid(2).
        random.manual_seed(11);
        using var coupling = new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1), ScaleActivation.GlowSigmoid);
        coupling.to(ScalarType.Float64);
        coupling.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(3, 4, 2, 2, dtype: ScalarType.Float64);

        var (output, logDet) = coupling.Forward(input);

        var logSigmoid2 = -Math.Log(1 + Math.Exp(-2));
        output.narrow(1, 0, 2).ShouldBeCloseTo(input.narrow(1, 0, 2).Times(Math.Exp(logSigmoid2)), 1e-15, 0, "transformed channels");
        output.narrow(1, 2, 2).ShouldEqualExactly(input.narrow(1, 2, 2), "conditioning channels");
        logDet.ShouldBeCloseTo(TestScalars.Full([3], 8 * logSigmoid2, ScalarType.Float64), 1e-15, 0, "LogDet");
    }

    [Fact]
    public void Forward_FreshAdditiveCoupling_IsTheIdentityWithZeroLogDet()
    {
        random.manual_seed(12);
        using var coupling = new AdditiveCoupling([2, 4, 4], CheckerboardMask.Instance, 1, new ResNetConditionerFactory(8, 1));
        coupling.to(ScalarType.Float64);
        coupling.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(3, 2, 4, 4, dtype: ScalarType.Float64);

        var (output, logDet) = coupling.Forward(input);
        var (back, inverseLogDet) = coupling.Inverse(input);

        output.ShouldEqualExactly(input, "Forward of a fresh additive coupling");
        back.ShouldEqualExactly(input, "Inverse of a fresh additive coupling");
        logDet.ShouldEqualExactly(zeros(3, dtype: ScalarType.Float64), "Forward LogDet");
        inverseLogDet.ShouldEqualExactly(zeros(3, dtype: ScalarType.Float64), "Inverse LogDet");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Constructor_AdditiveCoupling_ConditionerPredictsOneMapPerTransformedChannel(bool channelMask)
    {
        // Channel mask on [4, 2, 2]: 2 transformed channels; checkerboard on [2, 4, 4]: maps for all 2 channels.
        using var coupling = channelMask
            ? new AdditiveCoupling([4, 2, 2], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1))
            : new AdditiveCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1));
        using var affine = channelMask
            ? new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1))
            : new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1));

        OutputChannels(coupling).Should().Be(2);
        OutputChannels(affine).Should().Be(4);
        coupling.IsChannelStructured.Should().Be(channelMask);
    }

    private static long OutputChannels(CouplingLayer coupling) =>
        coupling.named_parameters().Single(p => p.name == "st_net.out_conv.weight").parameter.shape[0];

    private static BijectorCase CouplingCase(ScaleActivation? activation) => new()
    {
        Name = $"AffineCoupling(Checkerboard, {activation?.ToString() ?? "default"})",
        Create = () => activation is null
            ? new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1))
            : new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1), activation),
        EventShape = [2, 4, 4],
    };
}
