using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Precision;

// The fused inference copy: evaluation-mode BatchNorms folded into the st-networks' convolutions. The folded copy must
// give the unfolded copy's log-likelihoods (fp32, within rounding), on flows trained a few steps so the running
// statistics are far from their initial (identity) values, and must leave the user's flow untouched.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FusedInferenceTests
{
    private static readonly long[] Shape = [1, 8, 8];
    private const double Dimensions = 64;

    public static TheoryData<string> Flows => new() { "compact RealNVP", "Glow with ResNet st-networks", "RealNVP with bottleneck", "weight-normalised RealNVP" };

    [Theory]
    [MemberData(nameof(Flows))]
    public void FusedCopy_Float32_GivesTheUnfusedLogLikelihoodsWithin1e4NatsPerDim(string name)
    {
        using var flow = Trained(name);
        using var unfused = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32);
        using var fused = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        using var scope = NewDisposeScope();
        using var images = EightBitImages(16, 31);

        var expected = unfused.LogProb(images, ScoringNoise.BinCentres).DividedBy(Dimensions);
        var actual = fused.LogProb(images, ScoringNoise.BinCentres).DividedBy(Dimensions);

        Foldables(fused).Should().NotBeEmpty().And.OnlyContain(f => f.IsFolded);
        Foldables(unfused).Should().OnlyContain(f => !f.IsFolded);
        var difference = actual.sub(expected).abs().max().ReadDouble();
        difference.Should().BeLessThan(1e-4, "folding moves log p(x) by the rounding of the folded weights only (nats/dim)");
        expected.abs().max().ReadDouble().Should().BeGreaterThan(0.01, "the flow computes something");
        // That the folded weights are really used shows in the st-networks' outputs, whose rounding differs from the
        // layers'. Not in log p: after 4 steps the zero-initialised output convolutions are still small, and whether their
        // rounding survives the sum in float32 depends on the processor's kernels (an avx2-only AMD EPYC gave a
        // difference of exactly 0 for the bottleneck RealNVP, where an avx512 one gave a positive one).
        var foldedOutputs = ConditionerOutputs(fused, images);
        var layerOutputs = ConditionerOutputs(unfused, images);
        foldedOutputs.Should().HaveCount(layerOutputs.Count).And.NotBeEmpty();
        foldedOutputs.Zip(layerOutputs, (f, l) => f.Zip(l, (x, y) => Math.Abs(x - y)).Max()).Max()
            .Should().BePositive("the folded weights are really used (their rounding differs from the layers')");
    }

    [Fact]
    public void FusedCopy_OfATrainedFlow_LeavesTheFlowItsParametersAndModeUnchanged()
    {
        using var flow = Trained("compact RealNVP");
        flow.train();
        var before = flow.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        try
        {
            using var fused = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);

            flow.training.Should().BeTrue();
            Foldables(flow).Should().NotBeEmpty().And.OnlyContain(f => !f.IsFolded, "the user's module is never folded");
            foreach (var (key, value) in flow.state_dict())
            {
                value.dtype.Should().Be(before[key].dtype);
                value.eq(before[key]).all().item<bool>().Should().BeTrue($"{key} is unchanged");
            }
        }
        finally
        {
            foreach (var value in before.Values)
            {
                value.Dispose();
            }
        }
    }

    [Fact]
    public void FusedCopy_BFloat16_StaysCloseToFloat32AndToTheUnfusedBf16Copy()
    {
        using var flow = Trained("compact RealNVP");
        using var fp32 = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32);
        using var unfused = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.BFloat16);
        using var fused = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        using var scope = NewDisposeScope();
        using var images = EightBitImages(16, 32);

        var reference = fp32.LogProb(images, ScoringNoise.BinCentres).DividedBy(Dimensions);
        var fusedBf16 = fused.LogProb(images, ScoringNoise.BinCentres).DividedBy(Dimensions);
        var unfusedBf16 = unfused.LogProb(images, ScoringNoise.BinCentres).DividedBy(Dimensions);

        ConditionerPrecision.Of(fused).Should().Be(ComputePrecision.BFloat16);
        var fusedError = fusedBf16.sub(reference).abs().mean().ReadDouble();
        var unfusedError = unfusedBf16.sub(reference).abs().mean().ReadDouble();
        fusedError.Should().BePositive("the copy computes in bf16").And.BeLessThan(Math.Max(2 * unfusedError, 1e-3), "folding adds no more than bf16's own rounding (nats/dim)");
    }

    [Fact]
    public void FusedCopy_InTrainingMode_RunsTheUnfusedLayers()
    {
        using var flow = Trained("compact RealNVP");
        using var unfused = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32);
        using var fused = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        using var scope = NewDisposeScope();
        using var images = EightBitImages(8, 33);
        unfused.train();
        fused.train();

        var expected = unfused.LogProb(images, ScoringNoise.BinCentres);
        var actual = fused.LogProb(images, ScoringNoise.BinCentres);

        actual.eq(expected).all().item<bool>().Should().BeTrue("batch statistics cannot be folded: training mode uses the layers themselves");
    }

    [Fact]
    public void FusedCopy_SavedAndLoaded_IsTheUnfusedFlow()
    {
        using var flow = Trained("compact RealNVP");
        using var fused = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        var path = Path.Combine(Path.GetTempPath(), $"flowood-fused-{Guid.NewGuid():N}.flowood");
        try
        {
            ModelFile.Save(fused, path);
            using var loaded = new NegativeLogLikelihoodScorer(ModelFile.LoadFlow(path), ownsFlow: true);
            using var reference = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32), ownsFlow: true);
            using var images = EightBitImages(4, 34);

            loaded.Score(images).Should().Equal(reference.Score(images), "the folded weights are not state: the file holds the flow's own parameters");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FoldedBatchNorm_AfterAConvolution_IsTheConvolutionFollowedByTheNorm()
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(41);
        using var conv = new Conv2dLayer(3, 5, 3, padding: 1);
        using var norm = new BatchNorm2dLayer(5);
        norm.train();
        norm.call(randn([16, 5, 6, 6], generator: generator).TimesInPlace(3).PlusInPlace(2));
        norm.eval();
        var input = randn([2, 3, 6, 6], generator: generator);
        var (a, c) = norm.EvaluationAffine();

        var folded = conv.Weight.detach().to(ScalarType.Float64).mul(a.reshape(-1, 1, 1, 1));
        var bias = conv.Bias!.detach().to(ScalarType.Float64).mul(a).PlusInPlace(c);
        using var frozen = new FrozenConv(folded, bias, [1, 1], [1, 1], ScalarType.Float32);
        var expected = norm.call(conv.call(input));

        frozen.Call(input).sub(expected).abs().max().ReadDouble().Should().BeLessThan(1e-5);
        ConvLayout.IsChannelsLast(frozen.Weight).Should().BeTrue("stored once in oneDNN's preferred layout");
        a.Minus(1).abs().max().ReadDouble().Should().BeGreaterThan(0.1, "the statistics are not the identity");
    }

    // Every st-network's output during one LogProb of images, in call order, as values (the hook runs inside the
    // bijectors' dispose scopes, so it keeps no tensor).
    private static List<double[]> ConditionerOutputs(NormalizingFlow flow, Tensor images)
    {
        var outputs = new List<double[]>();
        var removers = flow.modules().OfType<CouplingLayer>()
            .Select(c => c.Conditioner.register_forward_hook((_, _, output) =>
            {
                using var wide = output.to(ScalarType.Float64);
                using var values = wide.contiguous();
                outputs.Add(values.data<double>().ToArray());
                return output;
            }))
            .ToList();
        try
        {
            using var inference = inference_mode();
            flow.LogProb(images, ScoringNoise.BinCentres).Dispose();
        }
        finally
        {
            removers.ForEach(r => r.remove());
        }

        return outputs;
    }

    private static IFoldableConditioner[] Foldables(NormalizingFlow flow) =>
        flow.modules().OfType<CouplingLayer>().Select(c => c.Conditioner).OfType<IFoldableConditioner>().ToArray();

    // A small flow trained 4 steps of 16 on random 8-bit images: running statistics far from mean 0, variance 1.
    private static NormalizingFlow Trained(string name)
    {
        TorchSharp.torch.random.manual_seed(13);
        var flow = name switch
        {
            "compact RealNVP" => RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 8, Blocks = 2 }),
            "Glow with ResNet st-networks" => Glow.Create(Shape, new GlowOptions { Scales = 2, StepsPerScale = 2, Conditioner = new ResNetConditionerFactory(8, 1) }),
            "RealNVP with bottleneck" => RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 8, Blocks = 2, Bottleneck = new LinearBottleneck(6) }),
            "weight-normalised RealNVP" => RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 8, Blocks = 2, WeightNorm = true }),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        using var data = EightBitImages(64, 30);
        if (flow.modules().OfType<ActNorm>().Any())
        {
            ActNorm.InitializeAll(flow, data);
        }

        new FlowTrainer(flow, new TrainingOptions { Steps = 4, BatchSize = 16, Seed = 13, LearningRate = 3e-3 })
            .Train(data, cancellationToken: TestContext.Current.CancellationToken);
        return flow;
    }

    /// <summary><paramref name="count"/> random 8-bit images [count, 1, 8, 8] in [0, 1] from <paramref name="seed"/>.</summary>
    internal static Tensor EightBitImages(int count, int seed)
    {
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        return rand([count, .. Shape], generator: generator).TimesInPlace(255).floor_().DivideInPlace(255);
    }
}
