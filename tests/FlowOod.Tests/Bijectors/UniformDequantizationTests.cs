using System;
using FlowOod.Bijectors;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class UniformDequantizationTests
{
    [Fact]
    public void ForwardJacobian_WithNoise_Is255Over256IdentityLikeWithoutNoise()
    {
        random.manual_seed(7);
        using var noisy = new UniformDequantization(addNoise: true);
        using var plain = new UniformDequantization(addNoise: false);
        using var scope = NewDisposeScope();
        var example = randint(0, 256, [1, 1, 3, 3], dtype: ScalarType.Float64).DivideInPlace(255.0);
        var expected = eye(9, dtype: ScalarType.Float64).TimesInPlace(255.0 / 256.0);

        var (noisyJacobian, noisyLogDet) = BijectorConformance.JacobianAndLogDet(noisy, example);
        var (plainJacobian, plainLogDet) = BijectorConformance.JacobianAndLogDet(plain, example);

        noisyJacobian.ShouldBeCloseTo(expected, 0, 1e-15, "Jacobian with noise");
        plainJacobian.ShouldBeCloseTo(expected, 0, 1e-15, "Jacobian without noise");
        noisyLogDet.ReadDouble().Should().BeApproximately(9 * Math.Log(255.0 / 256.0), 1e-15);
        plainLogDet.ReadDouble().Should().Be(noisyLogDet.ReadDouble());
    }

    [Fact]
    public void Forward_WithoutNoise_MapsGridToBinCentres()
    {
        using var plain = new UniformDequantization(addNoise: false);
        using var scope = NewDisposeScope();
        var levels = TestScalars.Arange(0, 256, dtype: ScalarType.Float64).reshape(1, 1, 16, 16);

        var (output, _) = plain.Forward(levels.DividedBy(255.0));

        output.ShouldBeCloseTo(levels.Plus(0.5).DivideInPlace(256.0), 0, 1e-15, "Forward(k/255) without noise");
    }

    [Theory]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Float32)]
    public void InverseOfForward_AllLevelsManyNoiseDraws_RecoversEveryLevelExactly(ScalarType dtype)
    {
        // Regression: in float32, 255·x + u for a level k >= 128 has a spacing of 2^-16, so a draw u > 1 - 2^-17 rounded
        // up to k + 1, Forward left the bin of k and Inverse returned (k + 1)/255 (10 of these 2^20 entries with this
        // seed). The noise is now capped just below 1.
        random.manual_seed(1);
        using var noisy = new UniformDequantization(addNoise: true);
        using var scope = NewDisposeScope();
        var levels = TestScalars.Arange(0, 256, dtype: dtype).reshape(1, 1, 16, 16).expand(4096, 1, 16, 16).contiguous();
        var input = levels.DividedBy(255.0);
        input.Times(255.0).eq(levels).all().ReadBoolean().Should().BeTrue("255·(k/255) is exactly k in {0}, so only u can move a level", dtype);

        var (output, _) = noisy.Forward(input);
        var (recovered, _) = noisy.Inverse(output);

        output.Times(256.0).floor_().eq(levels).all().ReadBoolean()
            .Should().BeTrue("Forward(k/255) must stay in [k/256, (k + 1)/256)");
        var mismatches = recovered.ne(input).sum().ReadInt64();
        mismatches.Should().Be(0, "Inverse(Forward(k/255)) must return k/255 for every level and noise draw");
    }
}
