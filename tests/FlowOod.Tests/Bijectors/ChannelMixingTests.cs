using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// InvertibleConv1x1, LuInvertibleConv1x1 and Permutation beyond the conformance suite.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ChannelMixingTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(12)]
    public void Constructor_InvertibleConv1x1_InitialWeightIsOrthogonal(long channels)
    {
        random.manual_seed(channels);
        using var conv = new InvertibleConv1x1(channels);
        using var scope = NewDisposeScope();

        var weight = conv.Weight.detach();

        weight.shape.Should().Equal(channels, channels);
        weight.matmul(weight.t()).ShouldBeCloseTo(eye(channels), 0, 1e-5, "W Wᵀ");
        weight.t().matmul(weight).ShouldBeCloseTo(eye(channels), 0, 1e-5, "Wᵀ W");
    }

    [Fact]
    public void Forward_InvertibleConv1x1OnImages_MixesChannelsAtEveryPixelWithLogDetHWTimesLogAbsDet()
    {
        random.manual_seed(2);
        using var conv = new InvertibleConv1x1(3);
        conv.to(ScalarType.Float64);
        BijectorCase.Perturb(conv);
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 5, dtype: ScalarType.Float64);

        var (output, logDet) = conv.Forward(input);

        var weight = conv.Weight.detach();
        var expected = input.permute(0, 2, 3, 1).matmul(weight.t()).permute(0, 3, 1, 2);
        output.ShouldBeCloseTo(expected, 1e-14, 1e-14, "y = W x per pixel");
        var logAbsDet = Math.Log(Math.Abs(linalg.det(weight).ReadDouble()));
        logDet.ShouldBeCloseTo(TestScalars.Full([2], 20 * logAbsDet, ScalarType.Float64), 1e-12, 0, "LogDet = H·W·log|det W|");
    }

    [Fact]
    public void Constructor_LuOneChannel_TrainsOnlyLogScaleAndKeepsEveryStateDictKey()
    {
        random.manual_seed(4);
        using var conv = new LuInvertibleConv1x1(1);

        conv.named_parameters().Select(p => p.name).Should().Equal("log_scale");
        var state = conv.state_dict();
        state.Keys.Should().BeEquivalentTo("permutation", "lower", "upper", "log_scale", "sign_scale");
        state["lower"].shape.Should().Equal(1, 1);
        state["upper"].shape.Should().Equal(1, 1);
    }

    [Fact]
    public void LoadStateDict_LuOneChannel_LoadsAStateWithLowerAndUpperAndUsesItsLogScale()
    {
        random.manual_seed(5);
        using var conv = new LuInvertibleConv1x1(1);
        using var scope = NewDisposeScope();
        // The state a one-channel layer has always saved (lower and upper were parameters before; same keys, same shapes).
        var saved = new System.Collections.Generic.Dictionary<string, Tensor>
        {
            ["permutation"] = ones(1, 1),
            ["lower"] = zeros(1, 1),
            ["upper"] = zeros(1, 1),
            ["log_scale"] = TestScalars.Full([1], 0.5f),
            ["sign_scale"] = TestScalars.Full([1], -1f),
        };

        var (missing, unexpected) = conv.load_state_dict(saved, strict: true);

        missing.Should().BeEmpty();
        unexpected.Should().BeEmpty();
        var (output, logDet) = conv.Forward(ones(2, 1, 2, 3));
        output.ShouldBeCloseTo(TestScalars.Full([2, 1, 2, 3], -Math.Exp(0.5)), 1e-6, 0, "y = −exp(0.5)·x");
        logDet.ShouldBeCloseTo(TestScalars.Full([2], 6 * 0.5), 1e-6, 0, "LogDet = H·W·log_s");
    }

    [Fact]
    public void ComputeWeight_LuInitialised_IsOrthogonal()
    {
        random.manual_seed(3);
        using var conv = new LuInvertibleConv1x1(6);
        using var scope = NewDisposeScope();

        var weight = conv.ComputeWeight().detach();

        weight.matmul(weight.t()).ShouldBeCloseTo(eye(6), 0, 1e-5, "W Wᵀ at initialisation");
    }

    [Fact]
    public void ComputeWeight_PerturbedLu_IsInvertibleWithDeterminantFromLogScaleAndSigns()
    {
        random.manual_seed(4);
        using var conv = new LuInvertibleConv1x1(5);
        conv.to(ScalarType.Float64);
        BijectorCase.Perturb(conv);
        using var scope = NewDisposeScope();
        var parameters = conv.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        var buffers = conv.named_buffers().ToDictionary(b => b.name, b => b.buffer);

        var weight = conv.ComputeWeight().detach();

        // det W = det P · Π sign_s · exp(log_s); det P = ±1.
        var permutationDet = linalg.det(buffers["permutation"]).ReadDouble();
        Math.Abs(permutationDet).Should().BeApproximately(1.0, 1e-12);
        var expected = permutationDet * buffers["sign_scale"].prod().ReadDouble() * Math.Exp(parameters["log_scale"].sum().ReadDouble());
        linalg.det(weight).ReadDouble().Should().BeApproximately(expected, Math.Abs(expected) * 1e-10);
        linalg.inv(weight).matmul(weight).ShouldBeCloseTo(eye(5, dtype: ScalarType.Float64), 0, 1e-10, "W⁻¹ W");
        buffers["sign_scale"].abs().ShouldEqualExactly(ones(5, dtype: ScalarType.Float64), "|sign_s|");
    }

    [Fact]
    public void ComputeWeight_LuEntriesOutsideTheirTriangles_AreIgnored()
    {
        random.manual_seed(5);
        using var conv = new LuInvertibleConv1x1(4);
        conv.to(ScalarType.Float64);
        BijectorCase.Perturb(conv);
        using var scope = NewDisposeScope();
        var before = conv.ComputeWeight().detach();
        var parameters = conv.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        using (no_grad())
        {
            // Diagonal and upper part of `lower`, diagonal and lower part of `upper`: unused by construction.
            parameters["lower"].PlusInPlace(triu(TestScalars.Full([4, 4], 3.0, ScalarType.Float64), 0));
            parameters["upper"].PlusInPlace(tril(TestScalars.Full([4, 4], -2.0, ScalarType.Float64), 0));
        }

        conv.ComputeWeight().detach().ShouldEqualExactly(before, "W after changing masked-out entries");
    }

    [Fact]
    public void Inverse_LuOnVectors_UndoesForwardAndNegatesLogDet()
    {
        random.manual_seed(6);
        using var conv = new LuInvertibleConv1x1(7);
        conv.to(ScalarType.Float64);
        BijectorCase.Perturb(conv);
        using var scope = NewDisposeScope();
        var input = randn(3, 7, dtype: ScalarType.Float64);

        var (output, logDet) = conv.Forward(input);
        var (back, inverseLogDet) = conv.Inverse(output);

        output.ShouldBeCloseTo(input.matmul(conv.ComputeWeight().detach().t()), 1e-13, 1e-13, "y = W x");
        back.ShouldBeCloseTo(input, 1e-12, 1e-12, "Inverse(Forward(x))");
        logDet.ShouldBeCloseTo(inverseLogDet.neg(), 0, 1e-14, "LogDet antisymmetry");
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("lu")]
    public void Forward_WrongRankOrChannels_ThrowsArgumentExceptionWithShape(string kind)
    {
        using Bijector conv = kind == "lu" ? new LuInvertibleConv1x1(3) : new InvertibleConv1x1(3);
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => conv.Forward(randn(2, 4, 2, 2))).Should().Throw<ArgumentException>().WithMessage("*[N, 3, H, W]*[2, 4, 2, 2]*");
        FluentActions.Invoking(() => conv.Forward(randn(2, 3, 2))).Should().Throw<ArgumentException>().WithMessage("*[2, 3, 2]*");
    }

    [Fact]
    public void Reverse_FourChannels_ReversesChannelOrderAndInverseRestoresIt()
    {
        using var permutation = Permutation.Reverse(4);
        using var scope = NewDisposeScope();
        var input = TestScalars.Arange(0, 4 * 2, dtype: ScalarType.Float64).reshape(1, 4, 2);

        var (output, logDet) = permutation.Forward(input);
        var (back, inverseLogDet) = permutation.Inverse(output);

        permutation.Indices.Should().Equal(3L, 2L, 1L, 0L);
        output.ShouldEqualExactly(input.flip(1), "reversed channels");
        back.ShouldEqualExactly(input, "Inverse(Forward(x))");
        logDet.ShouldEqualExactly(zeros(1, dtype: ScalarType.Float64), "LogDet");
        inverseLogDet.ShouldEqualExactly(zeros(1, dtype: ScalarType.Float64), "inverse LogDet");
    }

    [Fact]
    public void Random_SameSeed_SamePermutationOfAllIndices()
    {
        using var first = Permutation.Random(10, seed: 42);
        using var second = Permutation.Random(10, seed: 42);
        using var other = Permutation.Random(10, seed: 43);

        first.Indices.Should().Equal(second.Indices);
        first.Indices.Should().BeEquivalentTo(Enumerable.Range(0, 10).Select(i => (long)i));
        other.Indices.Should().NotEqual(first.Indices, "a different seed gives a different shuffle of 10 channels here");
    }

    [Fact]
    public void Random_Shuffle_MapsEachOutputChannelFromItsIndex()
    {
        using var permutation = Permutation.Random(6, seed: 7);
        using var scope = NewDisposeScope();
        var input = randn(2, 6, 3, dtype: ScalarType.Float64);

        var (output, _) = permutation.Forward(input);

        var indices = permutation.Indices.ToArray();
        for (int i = 0; i < indices.Length; i++)
        {
            output.select(1, i).ShouldEqualExactly(input.select(1, indices[i]), $"output channel {i} = input channel {indices[i]}");
        }
    }

    [Theory]
    [InlineData(new long[] { 0, 0, 1 })]
    [InlineData(new long[] { 0, 3, 1 })]
    [InlineData(new long[] { -1, 0 })]
    [InlineData(new long[0])]
    public void Constructor_NotAPermutation_ThrowsArgumentException(long[] indices)
    {
        FluentActions.Invoking(() => new Permutation(indices)).Should().Throw<ArgumentException>().Which.ParamName.Should().Be("indices");
    }

    [Fact]
    public void Forward_PermutationWrongChannelCount_ThrowsArgumentException()
    {
        using var permutation = Permutation.Reverse(3);
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => permutation.Forward(randn(2, 4))).Should().Throw<ArgumentException>().WithMessage("*[N, 3, ...]*[2, 4]*");
    }
}
