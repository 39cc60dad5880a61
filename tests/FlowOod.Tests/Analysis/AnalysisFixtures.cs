using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Analysis;

// Small flows and inputs shared by the analysis tests.
internal static class AnalysisFixtures
{
    public static readonly long[] ImageShape = [1, 8, 8];

    // 8-bit images k/255, [n, 1, 8, 8] float32.
    public static Tensor Images(long n, ulong seed)
    {
        using var generator = new Generator(seed);
        using var levels = randint(0, 256, [n, .. ImageShape], generator: generator);
        return levels.to(ScalarType.Float32).DivideInPlace(255.0);
    }

    // Adds N(0, scale²) noise to every floating parameter, so that fresh zero-initialised couplings stop being the identity.
    public static void Perturb(nn.Module module, ulong seed, double scale = 0.1)
    {
        using var generator = new Generator(seed);
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            // The scope frees the noise and whatever wrapper add_ returns, never the parameter (created outside it).
            using var scope = NewDisposeScope();
            parameter.PlusInPlace(randn(parameter.shape, dtype: parameter.dtype, generator: generator).TimesInPlace(scale));
        }
    }

    public static NormalizingFlow TinyRealNvp(ulong seed)
    {
        var flow = RealNvp.Create(ImageShape, new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1 });
        Perturb(flow, seed);
        flow.eval();
        return flow;
    }

    public static NormalizingFlow TinyGlow(ulong seed)
    {
        var flow = Glow.Create(ImageShape, GlowOptions.Tiny with { Width = 8 });
        using (var batch = Images(16, seed))
        {
            ActNorm.InitializeAll(flow, batch);
        }

        Perturb(flow, seed + 1, 0.05);
        flow.eval();
        return flow;
    }

    // dequantization → logit → checkerboard coupling → squeeze → channel coupling → channel reversal → factor out 2 of 4
    // channels (coupling, squeeze, coupling, unsqueeze) → unsqueeze: a latent whose layout is not the pixels' (the
    // reversal moves entries inside every 2×2 block).
    public static NormalizingFlow HandBuilt(bool perturb, ulong seed = 1)
    {
        var conditioner = new GlowConvConditionerFactory(8);
        var inner = new Chain(
            new AffineCoupling([2, 4, 4], ChannelMask.Instance, 1, conditioner),
            new Squeeze(),
            new AffineCoupling([8, 2, 2], ChannelMask.Instance, 0, conditioner),
            new InverseOf(new Squeeze()));
        var transform = new Chain(
            new UniformDequantization(addNoise: true),
            new Logit(0.05),
            new AffineCoupling(ImageShape, CheckerboardMask.Instance, 0, conditioner),
            new Squeeze(),
            new AffineCoupling([4, 4, 4], ChannelMask.Instance, 0, conditioner),
            Permutation.Reverse(4),
            new FactorOut(2, inner),
            new InverseOf(new Squeeze()));
        var flow = new NormalizingFlow(transform, ImageShape, inputRange: (0.0, 1.0), discretizationLevels: 256);
        if (perturb)
        {
            Perturb(flow, seed);
        }

        flow.eval();
        return flow;
    }

    // Copies of every parameter and buffer, to compare after a query.
    public static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    public static void ShouldMatch(this Dictionary<string, Tensor> snapshot, nn.Module module)
    {
        foreach (var (name, value) in module.state_dict())
        {
            using var scope = NewDisposeScope();
            if (!value.to(ScalarType.Float64).equal(snapshot[name].to(ScalarType.Float64)).all().ReadBoolean())
            {
                throw new Xunit.Sdk.XunitException($"{name} changed.");
            }
        }
    }

    public static void DisposeAll(this Dictionary<string, Tensor> snapshot)
    {
        foreach (var tensor in snapshot.Values)
        {
            tensor.Dispose();
        }
    }

    // float32/float64 tensors equal bit for bit (compared as float64, which float32 converts to exactly).
    public static void ShouldEqualBitForBit(this Tensor actual, Tensor expected, string what)
    {
        using var a = actual.to(ScalarType.Float64);
        using var e = expected.to(ScalarType.Float64);
        FlowOod.Tests.Bijectors.TensorChecks.ShouldEqualExactly(a, e, what);
    }
}

// An st-network for a horizontal half mask on [C, H, W] with H even: ŝ = 0 and t = −factor · (x ⊙ b) shifted down by
// H/2 rows. For images whose bottom half repeats the top half, layer 0 (top conditions) then has t = −factor · x_change.
internal sealed class ShiftDownConditionerFactory(double factor) : IConditionerFactory
{
    public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null) => new ShiftDown(factor, inputShape[1] / 2);

    private sealed class ShiftDown : nn.Module<Tensor, Tensor>
    {
        private readonly double factor;
        private readonly long rows;

        public ShiftDown(double factor, long rows)
            : base(nameof(ShiftDown))
        {
            this.factor = factor;
            this.rows = rows;
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var shift = input.roll(rows, 2).Times(-factor);
            return scope.MoveToOuter(cat(new[] { zeros_like(input), shift }, 1));
        }
    }
}
