using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

public sealed class ChunkBudgetTests
{
    private static readonly long[] Mnist = [1, 28, 28];

    public static TheoryData<string> Models => new() { "compact", "autoencoder", "glow" };

    [Theory]
    [MemberData(nameof(Models))]
    public void BytesPerExample_BoundsEveryModuleOutputAndInput(string model)
    {
        using var flow = Create(model);
        flow.eval();
        var bound = ChunkBudget.BytesPerExample(flow, [2, .. Mnist]);
        var largest = 0L;
        var removers = new List<nn.Module<Tensor, Tensor>.HookRemover>();
        foreach (var module in flow.modules().OfType<nn.Module<Tensor, Tensor>>())
        {
            removers.Add(module.register_forward_hook((_, input, output) =>
            {
                largest = Math.Max(largest, Math.Max(PerExample(input), PerExample(output)));
                return output;
            }));
        }

        try
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            flow.LogProb(rand(2, 1, 28, 28));
        }
        finally
        {
            removers.ForEach(r => r.remove());
        }

        largest.Should().BePositive("the hooks ran");
        bound.Should().BeGreaterThanOrEqualTo(largest, $"the bound of the {model} flow must cover its largest module tensor");
    }

    [Fact]
    public void Cap_LowersFloat32ImageChunks_AndLeavesTheBFloat16CopyItsHalfSizedBound()
    {
        using var flow = Create("compact");
        flow.eval();
        using var copy16 = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        using var batch = zeros(512, 1, 28, 28);

        var fp32 = ChunkBudget.Cap(flow, batch, 256);
        fp32.Should().BeLessThan(256).And.BeGreaterThanOrEqualTo(ChunkBudget.MinimumChunk);
        (fp32 * ChunkBudget.BytesPerExample(flow, batch.shape)).Should().BeLessThanOrEqualTo(ChunkBudget.MaxTensorBytes);
        ChunkBudget.BytesPerExample(copy16, batch.shape).Should().Be(ChunkBudget.BytesPerExample(flow, batch.shape) / 2);
        ChunkBudget.Cap(copy16, batch, 256).Should().BeGreaterThan(fp32);
    }

    [Fact]
    public void Cap_LeavesSmallBatchesSmallChunksAndTabularFlowsAlone()
    {
        using var image = Create("compact");
        using var few = zeros(ChunkBudget.MinimumChunk, 1, 28, 28);
        using var many = zeros(4096, 1, 28, 28);
        ChunkBudget.Cap(image, few, 256).Should().Be(256, "a batch of at most 16 is one chunk anyway (the gate's path)");
        ChunkBudget.Cap(image, many, 8).Should().Be(8);

        using var tabular = GaussianFlows.StandardNormal(64);
        using var rows = zeros(4096, 64);
        ChunkBudget.Cap(tabular, rows, 256).Should().Be(256);
    }

    [Fact]
    public void CappedScores_EqualOneSmallChunkAtATime()
    {
        using var flow = Create("compact");
        flow.eval();
        using var images = randint(0, 256, [300, 1, 28, 28], dtype: ScalarType.Float32).DivideInPlace(255.0);
        using var capped = new NegativeLogLikelihoodScorer(flow, chunkSize: 256);
        using var small = new NegativeLogLikelihoodScorer(flow, chunkSize: 16);
        ChunkBudget.Cap(flow, images, 256).Should().BeLessThan(256, "this test is about a capped chunk");
        capped.Score(images).Should().Equal(small.Score(images), (a, b) => Math.Abs(a - b) < 1e-4);
    }

    private static NormalizingFlow Create(string model)
    {
        random.manual_seed(5);
        return model switch
        {
            "compact" => RealNvp.Create(Mnist, RealNvpOptions.Compact),
            "autoencoder" => SingleScaleRealNvp.Create(Mnist, SingleScaleRealNvpOptions.RealNvp8Layers with
            {
                Couplings = 2,
                Conditioner = new AutoencoderConditionerFactory(NoBottleneck.Instance),
            }),
            _ => InitializedGlow(),
        };
    }

    private static NormalizingFlow InitializedGlow()
    {
        var glow = Glow.Create(Mnist, GlowOptions.Compact);
        using var first = rand(8, 1, 28, 28);
        FlowOod.Bijectors.ActNorm.InitializeAll(glow, first);
        return glow;
    }

    private static long PerExample(Tensor tensor) => tensor.dim() == 0 ? 0 : tensor.numel() / tensor.shape[0] * tensor.ElementSize;
}
