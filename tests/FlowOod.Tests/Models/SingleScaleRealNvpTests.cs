using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Tests.Bijectors;
using FlowOod.Training;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Models;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class SingleScaleRealNvpTests
{
    private static readonly long[] ImageShape = [1, 8, 8];
    private static readonly ResNetConditionerFactory TinyResNet = new(width: 8, blocks: 1);

    public static TheoryData<string> PresetNames() => new(Presets.Keys);

    private static Dictionary<string, SingleScaleRealNvpOptions> Presets => new()
    {
        [nameof(SingleScaleRealNvpOptions.RealNvp8Layers)] = SingleScaleRealNvpOptions.RealNvp8Layers,
        [nameof(SingleScaleRealNvpOptions.RealNvpMaskHorizontal)] = SingleScaleRealNvpOptions.RealNvpMaskHorizontal,
        [nameof(SingleScaleRealNvpOptions.RealNvpCycleMask)] = SingleScaleRealNvpOptions.RealNvpCycleMask,
        [nameof(SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers)] = SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers,
    };

    [Fact]
    public void Presets_PaperVariants_HaveTheirMaskDepthAndPaperStNetwork()
    {
        SingleScaleRealNvpOptions.RealNvp8Layers.Mask.Should().BeSameAs(CheckerboardMask.Instance);
        SingleScaleRealNvpOptions.RealNvp8Layers.Couplings.Should().Be(8);
        SingleScaleRealNvpOptions.RealNvpMaskHorizontal.Mask.Should().BeSameAs(HalfMask.Horizontal);
        SingleScaleRealNvpOptions.RealNvpMaskHorizontal.Couplings.Should().Be(8);
        SingleScaleRealNvpOptions.RealNvpCycleMask.Mask.Should().BeSameAs(CycleMask.Instance);
        SingleScaleRealNvpOptions.RealNvpCycleMask.Couplings.Should().Be(8, "two full cycles of four quadrant couplings");
        SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers.Mask.Should().BeSameAs(HalfMask.Horizontal);
        SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers.Couplings.Should().Be(3);
        foreach (var preset in Presets.Values)
        {
            var resNet = preset.Conditioner.Should().BeOfType<ResNetConditionerFactory>().Subject;
            (resNet.Width, resNet.Blocks).Should().Be((64, 8));
            preset.LogitAlpha.Should().Be(0.05);
            preset.DequantizationNoise.Should().BeTrue();
        }
    }

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void Create_Preset_DequantizationLogitThenCouplingsWithTheStrategysMasks(string preset)
    {
        var options = Presets[preset] with { Conditioner = TinyResNet };

        using var flow = SingleScaleRealNvp.Create(ImageShape, options);

        var steps = flow.Transform.Should().BeOfType<Chain>().Subject.Steps;
        steps.Should().HaveCount(options.Couplings + 2);
        steps[0].Should().BeOfType<UniformDequantization>();
        steps[1].Should().BeOfType<Logit>();
        for (int k = 0; k < options.Couplings; k++)
        {
            var coupling = steps[k + 2].Should().BeOfType<AffineCoupling>().Subject;
            var expected = options.Mask.Create(ImageShape, k);
            coupling.Mask.Condition.ToArray().Should().Equal(expected.Condition.ToArray(), $"coupling {k}");
            coupling.Mask.Transform.ToArray().Should().Equal(expected.Transform.ToArray(), $"coupling {k}");
        }

        flow.EventShape.Should().Equal(ImageShape);
        flow.InputRange.Should().Be((0.0, 1.0));
        flow.DiscretizationLevels.Should().Be(256);
    }

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void LogProb_PreparedPresetOnTwoImages_FiniteAndOnePerImage(string preset)
    {
        using var flow = CreatePrepared(preset, noise: true);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var logProb = flow.LogProb(EightBitImages(2));

        logProb.shape.Should().Equal(2);
        logProb.ShouldBeAllFinite("LogProb");
    }

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void TransformInverse_OfForwardOnEightBitImages_RecoversInputExactly(string preset)
    {
        using var flow = CreatePrepared(preset, noise: false);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = EightBitImages(2);

        var (latent, logDet) = flow.Transform.Forward(images);
        var (recovered, inverseLogDet) = flow.Transform.Inverse(latent);

        latent.shape.Should().Equal(2, 1, 8, 8);
        recovered.ShouldEqualExactly(images, "Inverse(Forward(x))");
        logDet.Plus(inverseLogDet).abs().max().ReadDouble().Should().BeLessThan(ConformanceTolerances.Default.LogDetSumAbsolute);
    }

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void Train_FiveStepsOnRandomEightBitImages_LossFiniteAndLower(string preset)
    {
        random.manual_seed(5);
        using var flow = SingleScaleRealNvp.Create(ImageShape, Presets[preset] with { Conditioner = TinyResNet });
        using var scope = NewDisposeScope();
        var data = randint(0, 256, [16, .. ImageShape], dtype: ScalarType.Float32).DivideInPlace(255.0);
        var losses = new RecordingProgress();

        var result = new FlowTrainer(flow, new TrainingOptions { Steps = 5, BatchSize = 16, LearningRate = 1e-3, Seed = 5, ProgressInterval = 1 })
            .Train(data, progress: losses, cancellationToken: TestContext.Current.CancellationToken);

        result.Steps.Should().Be(5);
        losses.Reports.Select(r => r.Loss).Should().HaveCount(5).And.OnlyContain(l => double.IsFinite(l));
        losses.Reports[^1].Loss.Should().BeLessThan(losses.Reports[0].Loss, "five Adam steps on the same 16 images lower the NLL");
        flow.parameters().Should().OnlyContain(p => p.isfinite().all().ReadBoolean());
        using var noGrad = no_grad();
        flow.LogProb(data).ShouldBeAllFinite("LogProb after training");
    }

    [Fact]
    public void Create_RealNvp8LayersPaperSizeOnMnistShape_HasExactParameterCount()
    {
        // Per coupling: ResNet st-network 631,300 (width 64, 8 blocks, 1 input channel, 2 output channels) plus one
        // per-channel scale. The reference code has 5,063,744: its weight norms add 1,667 gains per coupling (see
        // SingleScaleRealNvpOptions).
        using var flow = SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers);

        var count = flow.parameters().Sum(p => p.numel());

        count.Should().Be(5_050_408);
        (5_063_744 - count).Should().Be(8 * 1_667);
    }

    [Fact]
    public void Create_RealNvpMaskHorizontal3LayersPaperSizeOnMnistShape_HasExactParameterCount()
    {
        using var flow = SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers);

        var count = flow.parameters().Sum(p => p.numel());

        count.Should().Be(1_893_903);
        (1_898_904 - count).Should().Be(3 * 1_667);
    }

    [Fact]
    public void Create_CycleMaskOnOddHeight_ThrowsFromTheMask()
    {
        var act = () => SingleScaleRealNvp.Create([1, 7, 8], SingleScaleRealNvpOptions.RealNvpCycleMask with { Conditioner = TinyResNet });

        act.Should().Throw<ArgumentException>().WithMessage("*H and W must be even*[1, 7, 8]*");
    }

    [Fact]
    public void Create_VectorShape_ThrowsNamingTheShape()
    {
        var act = () => SingleScaleRealNvp.Create([64], SingleScaleRealNvpOptions.RealNvp8Layers);

        act.Should().Throw<ArgumentException>().WithParameterName("imageShape").WithMessage("*[C, H, W]*[64]*");
    }

    [Fact]
    public void Create_ZeroCouplings_Throws()
    {
        var act = () => SingleScaleRealNvp.Create(ImageShape, SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 0 });

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Couplings");
    }

    [Fact]
    public void Create_CustomStrategyAndConditioner_AreUsed()
    {
        var strategy = new QuadrantMask(Quadrant.BottomRight, Quadrant.TopLeft);

        using var flow = SingleScaleRealNvp.Create(ImageShape, new SingleScaleRealNvpOptions { Mask = strategy, Couplings = 2, Conditioner = TinyResNet });

        var couplings = ((Chain)flow.Transform).Steps.OfType<AffineCoupling>().ToList();
        couplings.Should().HaveCount(2);
        foreach (var coupling in couplings)
        {
            coupling.Mask.Condition[63].Should().BeTrue("the bottom-right pixel is in the conditioning quadrant");
            coupling.Mask.Transform[0].Should().BeTrue("the top-left pixel is in the transformed quadrant");
        }
    }

    // A tiny flow of the preset in float64 with perturbed st-networks and warmed-up BatchNorm statistics, in eval mode.
    private static NormalizingFlow CreatePrepared(string preset, bool noise)
    {
        random.manual_seed(11);
        var flow = SingleScaleRealNvp.Create(ImageShape, Presets[preset] with { Conditioner = TinyResNet, DequantizationNoise = noise });
        flow.to(ScalarType.Float64);
        BijectorCase.Perturb(flow);
        flow.train();
        for (int i = 0; i < BijectorCase.WarmUpForwards; i++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            flow.LogProb(EightBitImages(8));
        }

        flow.eval();
        return flow;
    }

    private static Tensor EightBitImages(long n) => randint(0, 256, [n, .. ImageShape], dtype: ScalarType.Float64).DivideInPlace(255.0);

    private sealed class RecordingProgress : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = [];

        public void Report(TrainingProgress value) => Reports.Add(value);
    }
}
