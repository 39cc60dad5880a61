using System;
using System.Linq;
using FlowOod.Analysis;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Analysis;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class CouplingViewTests
{
    [Fact]
    public void Trace_RealNvp_NamesEveryCouplingWithItsScaleAndShape()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(11);
        var images = AnalysisFixtures.Images(2, seed: 11);

        using var trace = CouplingView.Trace(flow, images, ScoringNoise.BinCentres);

        // Scale 1: 3 checkerboard couplings, squeeze, 3 channel-wise; scale 2 (half the squeezed channels): 4 checkerboard.
        trace.Select(t => t.Name).Should().Equal(Enumerable.Range(1, 10).Select(k => $"coupling {k} (scale {(k <= 6 ? 1 : 2)})"));
        trace.Select(t => t.LayerShape.ToArray()).Should().BeEquivalentTo(
            new[] { [1L, 8, 8], [1L, 8, 8], [1L, 8, 8], [4L, 4, 4], [4L, 4, 4], [4L, 4, 4], [2L, 4, 4], [2L, 4, 4], [2L, 4, 4], new[] { 2L, 4, 4 } },
            o => o.WithStrictOrdering());
        foreach (var layer in trace)
        {
            foreach (var tensor in new[] { layer.Input, layer.Output, layer.LogScale!, layer.Shift! })
            {
                tensor.shape.Should().Equal([2, 1, 8, 8], layer.Name);
            }

            layer.TransformMask.shape.Should().Equal([1, 8, 8]);
            layer.TransformMask.dtype.Should().Be(ScalarType.Bool);
            var visible = layer.ConditionMask.logical_or(layer.TransformMask).sum().ReadInt64();
            visible.Should().Be(layer.Scale == 1 ? 64 : 32, "{0} sees the kept half of the squeezed channels only at scale 2", layer.Name);
            layer.ConditionMask.logical_and(layer.TransformMask).any().ReadBoolean().Should().BeFalse();
        }
    }

    [Fact]
    public void Trace_EachLayersOutputIsTheNextLayersInput_AndFollowsTheAffineFormula()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyRealNvp(12);
        var images = AnalysisFixtures.Images(3, seed: 12);

        using var trace = CouplingView.Trace(flow, images, ScoringNoise.BinCentres);

        for (int k = 0; k < trace.Count; k++)
        {
            var layer = trace[k];
            var m = layer.TransformMask;
            var expected = where(m, layer.Input.Plus(layer.Shift!).mul(layer.LogScale!.exp()), layer.Input);
            layer.Output.ShouldBeCloseTo(expected, 1e-6, 1e-6, $"{layer.Name}: y = (x + t)·exp(s) where changed, x elsewhere");
            layer.LogScale!.masked_select(m.logical_not()).abs().max().ReadDouble().Should().Be(0, "s is zero outside the changed half");
            layer.Shift!.masked_select(m.logical_not()).abs().max().ReadDouble().Should().Be(0, "t is zero outside the changed half");
            layer.Shift!.masked_select(m).abs().max().ReadDouble().Should().BeGreaterThan(0, "the perturbed st-network predicts something");
            if (k + 1 < trace.Count)
            {
                var next = trace[k + 1];
                var seen = next.ConditionMask.logical_or(next.TransformMask);
                next.Input.ShouldEqualBitForBit(where(seen, layer.Output, zeros_like(layer.Output)), $"{next.Name}'s input");
            }
        }
    }

    [Fact]
    public void Walk_LastCouplingLeadsToTheFlowsOwnLatent_BitForBit()
    {
        using var scope = NewDisposeScope();
        foreach (var flow in new[] { AnalysisFixtures.TinyRealNvp(13), AnalysisFixtures.TinyGlow(13), AnalysisFixtures.HandBuilt(perturb: true, seed: 13) })
        {
            using (flow)
            {
                var images = AnalysisFixtures.Images(2, seed: 13);
                Tensor walked;
                var visits = 0;
                using (var source = ScoringNoise.BinCentres.Open())
                {
                    walked = FlowStructure.Walk(flow.Transform, images, source, _ => visits++);
                }

                walked.ShouldEqualBitForBit(flow.Transform.Forward(images, ScoringNoise.BinCentres).Output, flow.Transform.ToString() ?? "flow");
                visits.Should().BeGreaterThan(0);
            }
        }
    }

    [Fact]
    public void Trace_Glow_UnsqueezesChannelCouplingsToImageLayout()
    {
        using var scope = NewDisposeScope();
        using var flow = AnalysisFixtures.TinyGlow(14);
        var images = AnalysisFixtures.Images(2, seed: 14);

        using var trace = CouplingView.Trace(flow, images, ScoringNoise.BinCentres);

        trace.Select(t => t.Name).Should().Equal("coupling 1 (scale 1)", "coupling 2 (scale 1)", "coupling 3 (scale 2)", "coupling 4 (scale 2)");
        trace[0].LayerShape.Should().Equal(4, 4, 4);
        trace[2].LayerShape.Should().Equal(8, 2, 2);
        // Scale 1 changes squeezed channels 0 and 1: the top row of every 2×2 block of the 8×8 image.
        var rows = trace[0].TransformMask[0].any(1);
        rows.to(ScalarType.Int64).data<long>().ToArray().Should().Equal(1, 0, 1, 0, 1, 0, 1, 0);
        trace[0].Input.shape.Should().Equal([2, 1, 8, 8]);
    }

    [Fact]
    public void Trace_AdditiveCoupling_HasAShiftAndNoLogScale()
    {
        using var scope = NewDisposeScope();
        using var flow = new NormalizingFlow(
            new Chain(new AdditiveCoupling(AnalysisFixtures.ImageShape, HalfMask.Horizontal, 0, new ShiftDownConditionerFactoryForAdditive())),
            AnalysisFixtures.ImageShape);
        flow.eval();
        var images = AnalysisFixtures.Images(2, seed: 15);

        using var trace = CouplingView.Trace(flow, images, ScoringNoise.BinCentres);

        trace.Should().ContainSingle();
        trace[0].LogScale.Should().BeNull();
        trace[0].Output.ShouldEqualBitForBit(trace[0].Input.Plus(trace[0].Shift!), "y = x + t");
        trace[0].Shift!.abs().max().ReadDouble().Should().BeGreaterThan(0);
    }

    // t = x ⊙ b shifted down by H/2 rows, for an additive coupling (one output map per channel).
    private sealed class ShiftDownConditionerFactoryForAdditive : IConditionerFactory
    {
        public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null) => new Roll(inputShape[1] / 2);

        private sealed class Roll : nn.Module<Tensor, Tensor>
        {
            private readonly long rows;

            public Roll(long rows)
                : base(nameof(Roll))
            {
                this.rows = rows;
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => input.roll(rows, 2);
        }
    }
}
