using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Testing;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Masks;

// AffineCoupling with the cycle-mask: only the output quadrant changes, and the st-network sees only the input quadrant.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class CycleMaskCouplingTests
{
    private const long Batch = 4;
    private static readonly long[] EventShape = [2, 4, 6];

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(0, true)]
    [InlineData(3, true)]
    public void ForwardAndInverse_EveryQuadrantButTheOutputQuadrant_CopiedBitForBit(int layer, bool inverse)
    {
        using var coupling = CreatePrepared(layer);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(TensorChecks.Batched(Batch, EventShape), dtype: ScalarType.Float64);
        var transform = MaskTensor(coupling.Mask.Transform.ToArray());
        var kept = transform.logical_not();

        var (output, _) = inverse ? coupling.Inverse(input) : coupling.Forward(input);

        output.masked_select(kept).ShouldEqualExactly(input.masked_select(kept), "conditioning and untouched quadrants");
        output.masked_select(transform).ne(input.masked_select(transform)).all().ReadBoolean()
            .Should().BeTrue("every entry of the output quadrant moves once the st-network is perturbed");
    }

    [Theory]
    [InlineData(0, false, false)]
    [InlineData(1, false, false)]
    [InlineData(2, false, false)]
    [InlineData(3, false, false)]
    [InlineData(0, true, false)]
    [InlineData(2, false, true)]
    [InlineData(3, true, true)]
    public void ForwardAndInverse_UntouchedQuadrantsPerturbed_OutputQuadrantAndLogDetUnchanged(int layer, bool inverse, bool train)
    {
        using var coupling = CreatePrepared(layer);
        coupling.train(train);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(TensorChecks.Batched(Batch, EventShape), dtype: ScalarType.Float64);
        var untouched = MaskTensor(Untouched(coupling.Mask));
        var perturbed = where(untouched, input.Plus(randn_like(input).TimesInPlace(3.0)), input);
        var transform = MaskTensor(coupling.Mask.Transform.ToArray());

        var (output, logDet) = inverse ? coupling.Inverse(input) : coupling.Forward(input);
        var (perturbedOutput, perturbedLogDet) = inverse ? coupling.Inverse(perturbed) : coupling.Forward(perturbed);

        perturbed.masked_select(untouched).ne(input.masked_select(untouched)).all().ReadBoolean().Should().BeTrue();
        perturbedOutput.masked_select(transform).ShouldEqualExactly(
            output.masked_select(transform), "the output quadrant when only the untouched quadrants differ");
        perturbedLogDet.ShouldEqualExactly(logDet, "LogDet when only the untouched quadrants differ");
        perturbedOutput.masked_select(untouched).ShouldEqualExactly(
            perturbed.masked_select(untouched), "the untouched quadrants themselves");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Forward_ConditioningQuadrantPerturbed_OutputQuadrantChanges(int layer)
    {
        using var coupling = CreatePrepared(layer);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = randn(TensorChecks.Batched(Batch, EventShape), dtype: ScalarType.Float64);
        var condition = MaskTensor(coupling.Mask.Condition.ToArray());
        var perturbed = where(condition, input.Plus(randn_like(input).TimesInPlace(3.0)), input);
        var transform = MaskTensor(coupling.Mask.Transform.ToArray());

        var (output, logDet) = coupling.Forward(input);
        var (perturbedOutput, perturbedLogDet) = coupling.Forward(perturbed);

        // Non-vacuity of the independence check above: the st-network does read its conditioning quadrant.
        perturbedOutput.masked_select(transform).sub(output.masked_select(transform)).abs().max().ReadDouble().Should().BeGreaterThan(1e-6);
        perturbedLogDet.sub(logDet).abs().min().ReadDouble().Should().BeGreaterThan(1e-9);
    }

    [Fact]
    public void Ctor_CycleMask_MaskIsTheStrategysLayerMask()
    {
        using var coupling = new AffineCoupling(EventShape, CycleMask.Instance, 5, new ResNetConditionerFactory(4, 0));

        MaskGrids.SameLayout(coupling.Mask, CycleMask.Instance.Create(EventShape, 5)).Should().BeTrue();
        coupling.Mask.ShouldHaveLayoutInEveryChannel(
            "...CCC",
            "...CCC",
            "...TTT",
            "...TTT");
    }

    // Seeds torch's global generator for the constructor's initial weights (the kit seeds only its own perturbation).
    private static AffineCoupling CreatePrepared(int layer)
    {
        random.manual_seed(1000 + layer);
        return (AffineCoupling)new BijectorCase
        {
            Name = $"AffineCoupling(Cycle, layer {layer})",
            Create = () => new AffineCoupling(EventShape, CycleMask.Instance, layer, new ResNetConditionerFactory(8, 1)),
            EventShape = EventShape,
        }.CreatePrepared(seed: 1000 + layer);
    }

    private static bool[] Untouched(CouplingMask mask) =>
        mask.Condition.ToArray().Zip(mask.Transform.ToArray()).Select(p => !p.First && !p.Second).ToArray();

    private static Tensor MaskTensor(bool[] mask) =>
        tensor(mask, dtype: ScalarType.Bool).reshape(EventShape).unsqueeze(0).expand(TensorChecks.Batched(Batch, EventShape));
}
