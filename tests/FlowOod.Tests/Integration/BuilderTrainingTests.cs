using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Data;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Samples.FashionMnist;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Integration;

// Numerical robustness on the real data: every image builder (RealNVP, single-scale variants, Glow), in float32, trains briefly on Fashion-MNIST with finite
// losses that go down (sizes are tiny so the suite stays fast; depth and structure are the builders' own).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BuilderTrainingTests
{
    private static readonly long[] Shape = [1, 28, 28];

    public static TheoryData<string> Builders() => new(Flows.Keys);

    [Theory]
    [MemberData(nameof(Builders))]
    public void Builder_TrainedBrieflyOnFashionMnist_LossFiniteAndDecreasing(string builder)
    {
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train).Take(512);
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var flow = Flows[builder]();
        var images = train.ToTensor(0, train.Count);
        ActNorm.InitializeAll(flow, images.narrow(0, 0, 64)); // Glow's data-dependent initialisation; 0 elsewhere
        var losses = new List<double>();

        new FlowTrainer(flow, new TrainingOptions { Steps = 24, BatchSize = 16, ProgressInterval = 1, Seed = 11 })
            .Train(images, progress: new SyncProgress<TrainingProgress>(p => losses.Add(p.Loss)));

        losses.Should().HaveCount(24).And.OnlyContain(l => double.IsFinite(l));
        losses.TakeLast(6).Average().Should().BeLessThan(losses.Take(6).Average() - 0.2, "24 Adam steps lower the loss clearly");
        flow.parameters().Should().OnlyContain(p => p.isfinite().all().ReadBoolean(), "no parameter may become NaN or infinite");
    }

    private static readonly Dictionary<string, Func<NormalizingFlow>> Flows = new()
    {
        ["RealNvp"] = () => RealNvp.Create(Shape, new RealNvpOptions { Width = 8, Blocks = 1 }),
        ["RealNvp(CycleMask, LinearBottleneck(16))"] = () => RealNvp.Create(
            Shape, new RealNvpOptions { Width = 8, Blocks = 2, SpatialMask = CycleMask.Instance, Bottleneck = new LinearBottleneck(16) }),
        ["SingleScale(RealNvp8Layers)"] = () => SingleScale(SingleScaleRealNvpOptions.RealNvp8Layers),
        ["SingleScale(RealNvpMaskHorizontal)"] = () => SingleScale(SingleScaleRealNvpOptions.RealNvpMaskHorizontal),
        ["SingleScale(RealNvpCycleMask)"] = () => SingleScale(SingleScaleRealNvpOptions.RealNvpCycleMask),
        ["SingleScale(RealNvpMaskHorizontal3Layers)"] = () => SingleScale(SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers),
        ["Autoregressive(Local)"] = () => AutoregressiveFlow.Create(Shape, AutoregressiveFlowOptions.Local with { Width = 8, Blocks = 1 }),
        ["Glow(Tiny)"] = () => Glow.Create(Shape, GlowOptions.Tiny),
        ["Glow(Tiny, plain 1x1 conv, highway)"] = () => Glow.Create(
            Shape, GlowOptions.Tiny with { LuDecomposedConvolution = false, Conditioner = new HighwayConditionerFactory(8, 2) }),
        ["SingleScale(CycleMask, Autoencoder(l=16))"] = () => SingleScale(
            SingleScaleRealNvpOptions.RealNvpCycleMask with { Conditioner = new AutoencoderConditionerFactory(latentSize: 16) }),
    };

    private static NormalizingFlow SingleScale(SingleScaleRealNvpOptions preset) =>
        SingleScaleRealNvp.Create(Shape, preset.Conditioner is ResNetConditionerFactory ? preset with { Conditioner = new ResNetConditionerFactory(8, 1) } : preset);

}
