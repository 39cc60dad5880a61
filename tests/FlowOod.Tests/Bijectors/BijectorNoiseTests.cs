using System;
using FlowOod.Bijectors;
using FlowOod.Tests.Analysis;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

/// <summary>
/// Dequantization noise is an argument of the leading dequantization step only: the rest of the chain runs as in a
/// plain Forward, a misplaced dequantization step is refused, and a flow's noise reaches exactly that step.
/// </summary>
public sealed class BijectorNoiseTests
{
    [Fact]
    public void Forward_BinCentresThroughAChain_EqualsTheChainWithANoiselessDequantization_BitForBit()
    {
        using var scope = NewDisposeScope();
        using var noisy = new Chain(new Chain(new UniformDequantization(addNoise: true), new Logit(0.05)), new Squeeze());
        using var plain = new Chain(new Chain(new UniformDequantization(addNoise: false), new Logit(0.05)), new Squeeze());
        var images = Images(3);

        var (output, logDet) = noisy.Forward(images, ScoringNoise.BinCentres);
        var (expected, expectedLogDet) = plain.Forward(images);

        output.ShouldEqualBitForBit(expected, "output");
        logDet.ShouldEqualBitForBit(expectedLogDet, "log-determinant");
    }

    [Fact]
    public void Forward_SeededNoise_ReachesTheDequantizationStepAndTheRestRunsOnItsOutput()
    {
        using var scope = NewDisposeScope();
        var dequantization = new UniformDequantization(addNoise: false);
        var logit = new Logit(0.05);
        using var chain = new Chain(dequantization, logit);
        var images = Images(4);
        var noise = ScoringNoise.Seeded(5);

        var (output, logDet) = chain.Forward(images, noise);
        var (dequantized, firstLogDet) = dequantization.Forward(images, noise);
        var (expected, secondLogDet) = logit.Forward(dequantized);

        output.ShouldEqualBitForBit(expected, "output");
        logDet.ShouldEqualBitForBit(firstLogDet.Plus(secondLogDet), "log-determinant");
        var (centred, _) = dequantization.Forward(images);
        dequantized.equal(centred).all().ReadBoolean().Should().BeFalse("seeded noise replaces the layer's own u = ½");
        chain.Forward(images, noise).Output.ShouldEqualBitForBit(output, "the same seeded noise again");
    }

    [Fact]
    public void Forward_NoDequantizationStep_IgnoresTheNoise()
    {
        using var scope = NewDisposeScope();
        using var logit = new Logit(0.05);
        var images = Images(2);

        logit.Forward(images, ScoringNoise.Random).Output.ShouldEqualBitForBit(logit.Forward(images).Output, "output");
    }

    [Fact]
    public void Forward_DequantizationNotFirst_IsRefusedNamingTheRule()
    {
        using var scope = NewDisposeScope();
        using var chain = new Chain(new Logit(0.05), new UniformDequantization());

        FluentActions.Invoking(() => chain.Forward(Images(2), ScoringNoise.BinCentres))
            .Should().Throw<ArgumentException>().WithMessage("*UniformDequantization must be the first step*none of them first*");
    }

    [Fact]
    public void NormalizingFlow_DequantizationAnywhereButFirst_IsRefusedAtConstruction()
    {
        using var second = new Chain(new Logit(0.05), new UniformDequantization());
        using var twice = new Chain(new UniformDequantization(), new Chain(new Squeeze(), new UniformDequantization()));
        using var inverted = new InverseOf(new UniformDequantization());

        foreach (var transform in new Bijector[] { second, twice, inverted })
        {
            FluentActions.Invoking(() => new NormalizingFlow(transform, [1, 4, 4], inputRange: (0.0, 1.0)))
                .Should().Throw<ArgumentException>().WithMessage("*must be the first step*").Which.ParamName.Should().Be("transform");
        }
    }

    [Fact]
    public void NormalizingFlow_LogProbWithNoise_GivesTheNoiseToTheDequantizationStepOnly()
    {
        using var scope = NewDisposeScope();
        using var flow = new NormalizingFlow(
            new Chain(new UniformDequantization(addNoise: true), new Logit(0.05), new Squeeze()), [1, 4, 4], inputRange: (0.0, 1.0));
        using var centred = new NormalizingFlow(
            new Chain(new UniformDequantization(addNoise: false), new Logit(0.05), new Squeeze()), [1, 4, 4], inputRange: (0.0, 1.0));
        var images = Images(3);

        flow.LogProb(images, ScoringNoise.BinCentres).ShouldEqualBitForBit(centred.LogProb(images), "log p at the bin centres");
        flow.LogProb(images, ScoringNoise.Seeded(3)).ShouldEqualBitForBit(flow.LogProb(images, ScoringNoise.Seeded(3)), "seeded log p");
        flow.LogProb(images, ScoringNoise.Seeded(3)).equal(centred.LogProb(images)).all().ReadBoolean().Should().BeFalse();
    }

    private static Tensor Images(long count)
    {
        using var generator = new Generator(41);
        return randint(0, 256, [count, 1, 4, 4], dtype: ScalarType.Float64, generator: generator).DivideInPlace(255.0);
    }
}
