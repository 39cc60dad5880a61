using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class NormalizingFlowTests
{
    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    [Fact]
    public void LogProb_IdentityTransform_EqualsStandardNormalLogDensity()
    {
        // Squeeze followed by its inverse is the identity, so log p(x) = log N(x; 0, I).
        using var flow = new NormalizingFlow(new Chain(new Squeeze(), new InverseOf(new Squeeze())), [1, 4, 4]);
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var input = randn(3, 1, 4, 4, dtype: ScalarType.Float64);

        var logProb = flow.LogProb(input);

        var expected = Rows(input).Select(row => row.Sum(x => (-0.5 * x * x) - HalfLogTwoPi)).ToArray();
        AssertClose(logProb, expected);
    }

    [Fact]
    public void LogProb_BatchOnTheMetaDevice_ThrowsArgumentExceptionNamingTheDevice()
    {
        // Regression: the range check's reductions reached libtorch, which threw an ExternalException ("aten::min ...
        // Meta tensors") instead of the documented ArgumentException.
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(2, ScalarType.Float32).to(new Device(DeviceType.META));

        var act = () => flow.LogProb(batch);

        act.Should().Throw<ArgumentException>().WithMessage("*meta device*").Which.ParamName.Should().Be("input");
    }

    [Theory]
    [InlineData(float.NaN, "*NaN*")]
    [InlineData(float.PositiveInfinity, "*NaN or infinite*")]
    [InlineData(float.NegativeInfinity, "*NaN or infinite*")]
    [InlineData(1.25f, "*[0, 1]*[0, 1.25]*")]
    [InlineData(-0.5f, "*[0, 1]*[-0.5, 1]*")]
    public void ValidateInput_OneBadEntry_IsFoundByTheSingleMinMaxPass(float value, string message)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = TestScalars.Full([3, 1, 8, 8], 0.5f);
        batch[0, 0, 0, 0] = 0f;
        batch[2, 0, 7, 7] = 1f;
        batch[1, 0, 4, 5] = value;

        var act = () => flow.ValidateInput(batch);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void LogProb_FixedAffineTransform_EqualsChangeOfVariablesDensity()
    {
        // Dequantization without noise is the fixed affine map z = (255 x + 1/2) / 256, so
        // log p(x) = log N(z; 0, I) + D log(255/256).
        using var flow = new NormalizingFlow(new UniformDequantization(addNoise: false), [1, 3, 3]);
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var input = rand(4, 1, 3, 3, dtype: ScalarType.Float64);

        var logProb = flow.LogProb(input);

        var expected = Rows(input)
            .Select(row => row.Sum(x =>
            {
                var z = ((255 * x) + 0.5) / 256;
                return (-0.5 * z * z) - HalfLogTwoPi + Math.Log(255.0 / 256.0);
            }))
            .ToArray();
        AssertClose(logProb, expected);
    }

    [Fact]
    public void Sample_TinyRealNvp_ReturnsCountByEventFiniteValuesOnThe8BitGrid()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();

        var samples = flow.Sample(6);

        samples.shape.Should().Equal(6, 1, 8, 8);
        samples.dtype.Should().Be(ScalarType.Float32);
        samples.ShouldBeAllFinite("samples");
        samples.min().ReadDouble().Should().BeGreaterThanOrEqualTo(0.0);
        samples.max().ReadDouble().Should().BeLessThanOrEqualTo(1.0);
        var levels = samples.Times(255.0);
        levels.sub(levels.round()).abs().max().ReadDouble().Should().BeLessThan(1e-4, "the inverse of the dequantization quantizes");
    }

    [Fact]
    public void Sample_SameSeededGenerator_SameSamples()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        using var first = new Generator(5);
        using var second = new Generator(5);

        var a = flow.Sample(3, first);
        var b = flow.Sample(3, second);

        b.ShouldEqualExactly(a, "samples from equally seeded generators");
    }

    [Fact]
    public void BitsPerDim_EightBitFlow_EqualsDiscretizedNegativeLogLikelihoodPerDimension()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(5, ScalarType.Float64);
        var dimensions = 64.0;

        var bits = flow.BitsPerDim(batch);
        var logProb = flow.LogProb(batch);

        var expected = logProb.data<double>().ToArray()
            .Select(lp => -(lp - (dimensions * Math.Log(256))) / (dimensions * Math.Log(2))).ToArray();
        AssertClose(bits, expected);
    }

    [Fact]
    public void BitsPerDim_ContinuousFlow_EqualsNegativeLogLikelihoodPerDimensionInBits()
    {
        using var flow = new NormalizingFlow(new Chain(new Squeeze(), new InverseOf(new Squeeze())), [1, 2, 2]);
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        var input = randn(3, 1, 2, 2, dtype: ScalarType.Float64);

        var bits = flow.BitsPerDim(input);
        var logProb = flow.LogProb(input);

        AssertClose(bits, logProb.data<double>().ToArray().Select(lp => -lp / (4 * Math.Log(2))).ToArray());
    }

    private static double[][] Rows(Tensor batch)
    {
        var flat = batch.flatten(1);
        var values = flat.data<double>().ToArray();
        var width = (int)flat.shape[1];
        return Enumerable.Range(0, (int)flat.shape[0]).Select(i => values.Skip(i * width).Take(width).ToArray()).ToArray();
    }

    private static void AssertClose(Tensor actual, double[] expected)
    {
        actual.shape.Should().Equal(expected.Length);
        var values = actual.data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            values[i].Should().BeApproximately(expected[i], Tolerances.AnalyticRelative * Math.Max(1, Math.Abs(expected[i])), $"example {i}");
        }
    }
}
