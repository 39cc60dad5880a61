using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Masks;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConditionerInitTests
{
    [Theory]
    [MemberData(nameof(ConditionerCases.AllNames), MemberType = typeof(ConditionerCases))]
    public void Create_Fresh_LastLayerIsZeroAndOutputIsZero(string name)
    {
        random.manual_seed(3);
        var shape = ConditionerCases.EventShapeFor(name);
        using var conditioner = ConditionerCases.Get(name).Create(shape, 4);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var last = conditioner.named_parameters().Where(p => ConditionerCases.IsLastLayer(p.name)).ToList();
        var output = conditioner.call(randn(TensorChecks.Batched(3, shape)));

        last.Should().HaveCount(2, "the last layer has a weight and a bias");
        last.Should().OnlyContain(p => p.parameter.count_nonzero().ReadInt64() == 0);
        output.count_nonzero().ReadInt64().Should().Be(0);
    }

    public static TheoryData<string, string> CouplingCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in ConditionerCases.Image.Keys)
        {
            data.Add(name, "Checkerboard");
            data.Add(name, "Channel");
        }

        foreach (var name in ConditionerCases.Vector.Keys)
        {
            data.Add(name, "Channel");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CouplingCases))]
    public void AffineCouplingForward_FreshConditioner_IsTheIdentityWithZeroLogDet(string name, string mask)
    {
        random.manual_seed(4);
        long[] shape = ConditionerCases.Image.ContainsKey(name) ? (mask == "Channel" ? [4, 14, 14] : [2, 14, 14]) : [5];
        IMaskStrategy strategy = mask == "Channel" ? ChannelMask.Instance : CheckerboardMask.Instance;
        using var coupling = new AffineCoupling(shape, strategy, 1, ConditionerCases.Get(name));
        coupling.to(ScalarType.Float64);
        coupling.train();
        using var scope = NewDisposeScope();
        var input = randn(TensorChecks.Batched(3, shape), dtype: ScalarType.Float64);

        var (output, logDet) = coupling.Forward(input);
        var (inverse, inverseLogDet) = coupling.Inverse(input);

        output.ShouldEqualExactly(input, "Forward of a fresh coupling");
        inverse.ShouldEqualExactly(input, "Inverse of a fresh coupling");
        logDet.ShouldEqualExactly(zeros(3, dtype: ScalarType.Float64), "LogDet of a fresh coupling");
        inverseLogDet.abs().max().ReadDouble().Should().Be(0);
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.AllNames), MemberType = typeof(ConditionerCases))]
    public void Backward_LastLayerPerturbed_ReachesEveryParameter(string name)
    {
        random.manual_seed(5);
        var shape = ConditionerCases.EventShapeFor(name);
        using var conditioner = ConditionerCases.Get(name).Create(shape, 4);
        conditioner.to(ScalarType.Float64);
        ConditionerCases.PerturbLastLayer(conditioner, 0.1);
        conditioner.train();
        conditioner.zero_grad();
        using var scope = NewDisposeScope();
        var input = randn(TensorChecks.Batched(8, shape), dtype: ScalarType.Float64);

        conditioner.call(input).Squared().sum().backward();

        var missing = new List<string>();
        foreach (var (parameterName, parameter) in conditioner.named_parameters())
        {
            using var gradient = parameter.grad;
            if (gradient is null || gradient.abs().max().ReadDouble() == 0)
            {
                missing.Add(parameterName);
            }
        }

        missing.Should().BeEmpty("a zero-initialised last layer must not stop gradients once it moves");
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.VectorNames), MemberType = typeof(ConditionerCases))]
    public void Forward_EvalMode_IsDeterministic(string name)
    {
        random.manual_seed(6);
        using var conditioner = ConditionerCases.Get(name).Create([5], 4);
        ConditionerCases.PerturbAll(conditioner, 0.1);
        conditioner.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(4, 5);

        var first = conditioner.call(input);
        var second = conditioner.call(input);

        equal(first, second).all().ReadBoolean().Should().BeTrue("dropout is off in eval mode");
    }

    [Fact]
    public void Forward_TrainModeWithDropout_DropsUnits()
    {
        random.manual_seed(7);
        using var conditioner = ConditionerCases.Get("Mlp(dropout 0.5)").Create([5], 4);
        ConditionerCases.PerturbAll(conditioner, 0.1);
        conditioner.train();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(4, 5);

        var first = conditioner.call(input);
        var second = conditioner.call(input);

        equal(first, second).all().ReadBoolean().Should().BeFalse("dropout draws a fresh mask per call in training mode");
    }
}
