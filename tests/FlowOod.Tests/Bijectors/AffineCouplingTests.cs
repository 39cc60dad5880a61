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

// Coupling-specific checks, on the AffineCoupling and AdditiveCoupling cases of the registry (every mask type, both
// layer parities, every scale activation).
// Entries that are neither conditioning nor transformed occur with CycleMask and custom masks; the checks on them are
// vacuous for cases without such entries.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class AffineCouplingTests
{
    private const long Batch = 4;

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Forward_ConditioningEntries_CopiedBitForBit(string name) => AssertConditioningCopied(name, inverse: false);

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Inverse_ConditioningEntries_CopiedBitForBit(string name) => AssertConditioningCopied(name, inverse: true);

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Forward_TransformedEntries_AllChange(string name)
    {
        var testCase = BijectorCases.Get(name);
        random.manual_seed(20240611); // the constructor's initial weights; the kit seeds only its perturbation
        using var coupling = (CouplingLayer)testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);
        var transform = MaskTensor(coupling.Mask.Transform.ToArray(), coupling.Mask.EventShape.ToArray(), Batch);

        var (output, _) = coupling.Forward(input);

        // Non-vacuity of the bit-for-bit check: the other half really is transformed.
        output.masked_select(transform).ne(input.masked_select(transform)).all().ReadBoolean()
            .Should().BeTrue("every transformed entry moves once the st-network is perturbed");
    }

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Forward_UntouchedEntries_CopiedBitForBit(string name) => AssertUntouchedCopied(name, inverse: false);

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Inverse_UntouchedEntries_CopiedBitForBit(string name) => AssertUntouchedCopied(name, inverse: true);

    [Theory]
    [MemberData(nameof(BijectorCases.CouplingNames), MemberType = typeof(BijectorCases))]
    public void Forward_UntouchedEntriesPerturbed_TransformedEntriesAndLogDetUnchanged(string name)
    {
        var testCase = BijectorCases.Get(name);
        random.manual_seed(20240611); // the constructor's initial weights; the kit seeds only its perturbation
        using var coupling = (CouplingLayer)testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch);
        var untouched = MaskTensor(Untouched(coupling.Mask), coupling.Mask.EventShape.ToArray(), Batch);
        var transform = MaskTensor(coupling.Mask.Transform.ToArray(), coupling.Mask.EventShape.ToArray(), Batch);
        var perturbed = where(untouched, input.Plus(randn_like(input)), input);

        var (output, logDet) = coupling.Forward(input);
        var (perturbedOutput, perturbedLogDet) = coupling.Forward(perturbed);

        // The st-network must not see entries outside the conditioning set.
        perturbedOutput.masked_select(transform).ShouldEqualExactly(output.masked_select(transform), "transformed entries");
        perturbedLogDet.ShouldEqualExactly(logDet, "LogDet");
    }

    [Fact]
    public void To_Float64_KeepsBoolMasksAndInt64ChannelIndices()
    {
        using var checkerboard = new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, new ResNetConditionerFactory(8, 1));
        using var channel = new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1));

        checkerboard.to(ScalarType.Float64);
        channel.to(ScalarType.Float64);

        foreach (var coupling in new[] { checkerboard, channel })
        {
            var buffers = coupling.named_buffers(recurse: false).ToDictionary(b => b.name, b => b.buffer);
            buffers["condition_mask"].dtype.Should().Be(ScalarType.Bool);
            buffers["transform_mask"].dtype.Should().Be(ScalarType.Bool);
            buffers["condition_channels"].dtype.Should().Be(ScalarType.Int64);
            buffers["transform_channels"].dtype.Should().Be(ScalarType.Int64);
            coupling.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        }

        using var scope = NewDisposeScope();
        var mask = channel.named_buffers(recurse: false).Single(b => b.name == "condition_mask").buffer;
        mask.flatten().data<bool>().ToArray().Should().Equal(channel.Mask.Condition.ToArray());
    }

    private static void AssertConditioningCopied(string name, bool inverse)
    {
        var testCase = BijectorCases.Get(name);
        random.manual_seed(20240611); // the constructor's initial weights; the kit seeds only its perturbation
        using var coupling = (CouplingLayer)testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = inverse ? randn(TensorChecks.Batched(Batch, testCase.EventShape), dtype: ScalarType.Float64) : testCase.SampleInput(Batch);
        var condition = MaskTensor(coupling.Mask.Condition.ToArray(), coupling.Mask.EventShape.ToArray(), Batch);

        var (output, _) = inverse ? coupling.Inverse(input) : coupling.Forward(input);

        output.masked_select(condition).ShouldEqualExactly(
            input.masked_select(condition), $"conditioning entries of {(inverse ? "Inverse" : "Forward")}");
    }

    private static void AssertUntouchedCopied(string name, bool inverse)
    {
        var testCase = BijectorCases.Get(name);
        random.manual_seed(20240611); // the constructor's initial weights; the kit seeds only its perturbation
        using var coupling = (CouplingLayer)testCase.CreatePrepared();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = inverse ? randn(TensorChecks.Batched(Batch, testCase.EventShape), dtype: ScalarType.Float64) : testCase.SampleInput(Batch);
        var untouched = MaskTensor(Untouched(coupling.Mask), coupling.Mask.EventShape.ToArray(), Batch);

        var (output, _) = inverse ? coupling.Inverse(input) : coupling.Forward(input);

        output.masked_select(untouched).ShouldEqualExactly(
            input.masked_select(untouched), $"entries in neither set, {(inverse ? "Inverse" : "Forward")}");
    }

    // Entries that are neither conditioning nor transformed.
    private static bool[] Untouched(CouplingMask mask) =>
        mask.Condition.ToArray().Zip(mask.Transform.ToArray()).Select(p => !p.First && !p.Second).ToArray();

    private static Tensor MaskTensor(bool[] mask, long[] eventShape, long batch) =>
        tensor(mask, dtype: ScalarType.Bool).reshape(eventShape).unsqueeze(0).expand(TensorChecks.Batched(batch, eventShape));
}
