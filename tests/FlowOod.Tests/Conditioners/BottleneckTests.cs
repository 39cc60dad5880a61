using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BottleneckTests
{
    [Fact]
    public void LinearBottleneckCreate_FeatureShape_MapsThroughLWideCodeToSameShape()
    {
        random.manual_seed(10);
        using var layer = (LinearBottleneckLayer)new LinearBottleneck(5).Create([3, 4, 4]);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var parameters = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        var output = layer.call(randn(2, 3, 4, 4));

        output.shape.Should().Equal(2, 3, 4, 4);
        layer.Features.Should().Be(48);
        layer.LatentSize.Should().Be(5);
        parameters.Should().HaveCount(4);
        parameters["encode.weight"].Should().Equal(5, 48);
        parameters["encode.bias"].Should().Equal(5);
        parameters["decode.weight"].Should().Equal(48, 5);
        parameters["decode.bias"].Should().Equal(48);
    }

    [Fact]
    public void LinearBottleneckForward_OtherShape_ThrowsNamingBothShapes()
    {
        using var layer = new LinearBottleneck(5).Create([3, 4, 4]);
        using var scope = NewDisposeScope();

        var act = () => layer.call(zeros(2, 3, 4, 5));

        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("[N, 3, 4, 4]") && e.Message.Contains("[2, 3, 4, 5]"));
    }

    [Fact]
    public void NoBottleneckCreate_AnyShape_IsParameterFreeIdentity()
    {
        using var identity = NoBottleneck.Instance.Create([3, 4, 4]);
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4);

        var output = identity.call(input);

        identity.parameters().Should().BeEmpty();
        equal(output, input).all().ReadBoolean().Should().BeTrue();
        new Action(() => NoBottleneck.Instance.Create([0])).Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData(28, 4)]
    [InlineData(14, 2)]
    public void AutoencoderCreate_LatentSize_LinearToLHasLOutputFeatures(long size, long code)
    {
        using var conditioner = new AutoencoderConditionerFactory(latentSize: 6).Create([1, size, size], 2);

        var shapes = conditioner.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        // The encoder's [128, code, code] output is flattened into 128·code² features and squeezed into l = 6 numbers.
        shapes["bottleneck.encode.weight"].Should().Equal(6, 128 * code * code);
        shapes["bottleneck.decode.weight"].Should().Equal(128 * code * code, 6);
        shapes.Keys.Where(k => k.StartsWith("bottleneck.", StringComparison.Ordinal))
            .Should().BeEquivalentTo("bottleneck.encode.weight", "bottleneck.encode.bias", "bottleneck.decode.weight", "bottleneck.decode.bias");
    }

    [Fact]
    public void ResNetCreate_WithoutBottleneck_KeepsRealNvpLayoutAndStateDictKeys()
    {
        using var plain = new ResNetConditionerFactory(4, 2).Create([2, 6, 6], 4);
        using var explicitNone = new ResNetConditionerFactory(4, 2, NoBottleneck.Instance).Create([2, 6, 6], 4);
        using var direct = new ResNetConditioner(2, 4, 4, 2);

        var keys = plain.state_dict().Keys.ToList();

        keys.Should().Contain(["in_skip.weight", "skips.0.weight", "skips.1.weight"]);
        keys.Should().NotContain(k => k.StartsWith("bottleneck", StringComparison.Ordinal));
        explicitNone.state_dict().Keys.Should().Equal(keys);
        direct.state_dict().Keys.Should().Equal(keys);
        ((ResNetConditioner)plain).HasBottleneck.Should().BeFalse();
    }

    [Fact]
    public void ResNetCreate_WithLinearBottleneck_SqueezesWidthTimesHeightTimesWidthAndDropsSkips()
    {
        using var conditioner = new ResNetConditionerFactory(4, 2, new LinearBottleneck(3)).Create([2, 6, 5], 4);

        var shapes = conditioner.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        ((ResNetConditioner)conditioner).HasBottleneck.Should().BeTrue();
        shapes["bottleneck.encode.weight"].Should().Equal(3, 4 * 6 * 5);
        shapes["bottleneck.decode.weight"].Should().Equal(4 * 6 * 5, 3);
        shapes.Keys.Should().NotContain(k => k.Contains("skip", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_UserDefinedBottleneck_ReceivesFeatureShapeAtTheBottleneck()
    {
        var recorder = new RecordingBottleneck();
        using var resnet = new ResNetConditionerFactory(6, 3, recorder).Create([2, 8, 7], 4);
        using var autoencoder = new AutoencoderConditionerFactory(recorder).Create([1, 28, 28], 2);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        resnet.call(randn(2, 2, 8, 7)).shape.Should().Equal(2, 4, 8, 7);
        autoencoder.call(randn(2, 1, 28, 28)).shape.Should().Equal(2, 2, 28, 28);

        recorder.Shapes.Should().HaveCount(2);
        recorder.Shapes[0].Should().Equal(6, 8, 7);
        recorder.Shapes[1].Should().Equal(128, 4, 4);
    }

    public static TheoryData<string> BottleneckedNames() => new(["Autoencoder", "ResNet+LinearBottleneck"]);

    [Theory]
    [MemberData(nameof(BottleneckedNames))]
    public void Jacobian_BottleneckOfThree_HasRankAtMostThree(string name)
    {
        // Every output depends on the input only through l = 3 numbers, so the Jacobian of the whole st-network has
        // rank ≤ 3: its row space, sampled by vector-Jacobian products with 12 random vectors, is 3-dimensional.
        var singularValues = JacobianSingularValues(ConditionerCases.Get(name), [2, 14, 14]);

        (singularValues[3] / singularValues[0]).Should().BeLessThan(1e-10, $"singular values {string.Join(", ", singularValues.Take(5))}");
        (singularValues[2] / singularValues[0]).Should().BeGreaterThan(1e-6, "the code's three directions are all used");
    }

    [Fact]
    public void Jacobian_NoBottleneck_HasRankAboveThree()
    {
        // The same check without a bottleneck is not vacuous: the plain autoencoder passes far more than 3 directions.
        var singularValues = JacobianSingularValues(new AutoencoderConditionerFactory(NoBottleneck.Instance), [2, 14, 14]);

        (singularValues[11] / singularValues[0]).Should().BeGreaterThan(1e-6);
    }

    // Singular values (descending) of 12 vector-Jacobian products uᵀJ at one random input, in float64: the input is
    // repeated 12 times in one batch (the networks are in eval mode, so batch items do not interact) and the output of
    // item k is paired with the random vector u_k.
    private static double[] JacobianSingularValues(IConditionerFactory factory, long[] shape)
    {
        const int Products = 12;
        random.manual_seed(11);
        using var conditioner = factory.Create(shape, 4);
        conditioner.to(ScalarType.Float64);
        ConditionerCases.PerturbAll(conditioner, 0.1);
        conditioner.eval();
        using var scope = NewDisposeScope();
        var example = randn(TensorChecks.Batched(1, shape), dtype: ScalarType.Float64);
        var input = example.expand(TensorChecks.Batched(Products, shape)).clone().requires_grad_(true);

        var output = conditioner.call(input);
        output.mul(randn_like(output)).sum().backward();

        using var rows = input.grad!.reshape(Products, -1);
        return linalg.svdvals(rows).data<double>().ToArray();
    }

    private sealed class RecordingBottleneck : IBottleneck
    {
        public List<long[]> Shapes { get; } = [];

        public nn.Module<Tensor, Tensor> Create(long[] featureShape, Device? device = null)
        {
            Shapes.Add((long[])featureShape.Clone());
            return nn.Identity();
        }
    }
}
