using FlowOod.Models;
using FlowOod.Tests.Bijectors;
using FlowOod.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

internal static class ScoringFlows
{
    public static readonly long[] ImageShape = [1, 8, 8];

    // A tiny RealNVP on 1x8x8 images with non-identity couplings and warmed-up BatchNorm statistics, in eval() mode.
    // Seeds torch's global generator.
    public static NormalizingFlow CreatePrepared(bool noise, ScalarType dtype, long seed = 99)
    {
        random.manual_seed(seed);
        var flow = RealNvp.Create(ImageShape, new RealNvpOptions { Scales = 2, Width = 8, Blocks = 1, DequantizationNoise = noise });
        flow.to(dtype);
        BijectorCase.Perturb(flow);
        flow.train();
        for (int i = 0; i < BijectorCase.WarmUpForwards; i++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            flow.LogProb(EightBitImages(8, dtype));
        }

        flow.eval();
        return flow;
    }

    // A tiny local flow (SingleScaleRealNvpOptions.Local's layout: checkerboard couplings with 3×3-window st-networks) on
    // 1x8x8 images, parameters perturbed so that it is not the identity, in eval() mode. Seeds torch's global generator.
    public static NormalizingFlow CreateLocal(long seed = 98)
    {
        random.manual_seed(seed);
        var flow = SingleScaleRealNvp.Create(ImageShape, SingleScaleRealNvpOptions.Local with { Couplings = 2, Conditioner = new FlowOod.Conditioners.LocalConditionerFactory(window: 3, width: 4, blocks: 1) });
        BijectorCase.Perturb(flow);
        flow.eval();
        return flow;
    }

    // [n, 1, 8, 8] images k/255 with k uniform in 0..255, from torch's global generator.
    public static Tensor EightBitImages(long n, ScalarType dtype) =>
        randint(0, 256, [n, .. ImageShape], dtype: dtype).DivideInPlace(255.0);
}
