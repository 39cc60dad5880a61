using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

/// <summary>
/// Construction on an explicit device (issue 8): loading never switches torch's process-wide default device, builders
/// build straight on the requested device, and construction leaves no tensor wrapper behind for the finalizer.
/// </summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConstructionDeviceTests
{
    private static readonly Device Meta = new(DeviceType.META);

    public static TheoryData<string> Builders => ["RealNvp", "RealNvpBottleneck", "Glow", "GlowPlain", "SingleScale", "SingleScaleAutoencoder", "Autoregressive", "Tabular"];

    [Fact]
    public void Load_WhileAnotherThreadAllocatesWithoutADevice_NeverGivesThatThreadAMetaTensor()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("model" + ModelFile.Extension);
        using (var flow = RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 8, Blocks = 1 }))
        {
            ModelFile.Save(flow, path);
        }

        using var stop = new CancellationTokenSource();
        var allocations = 0L;
        var onMeta = 0L;
        var other = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var t = zeros(4);
                allocations++;
                if (t.device_type == DeviceType.META)
                {
                    onMeta++;
                }
            }
        });
        other.Start();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(4);
            var loads = 0;
            while (DateTime.UtcNow < deadline || loads < 5)
            {
                using var loaded = ModelFile.LoadFlow(path);
                loads++;
            }
        }
        finally
        {
            stop.Cancel();
            other.Join();
        }

        allocations.Should().BePositive();
        onMeta.Should().Be(0, $"none of the other thread's {allocations} tensors created without a device may land on meta");
        get_default_device().type.Should().Be(DeviceType.CPU);
    }

    [Theory]
    [MemberData(nameof(Builders))]
    public void Build_OnMeta_HasTheCpuBuildsShapesAndDtypes_AndNoTensorOffMeta(string builder)
    {
        using var scope = NewDisposeScope();
        using var cpu = Build(builder, device: null);
        using var meta = Build(builder, Meta);
        var expected = cpu.state_dict().ToDictionary(p => p.Key, p => $"{p.Value.dtype} [{string.Join(",", p.Value.shape)}]");
        var state = meta.state_dict();
        state.Should().NotBeEmpty();
        state.ToDictionary(p => p.Key, p => $"{p.Value.dtype} [{string.Join(",", p.Value.shape)}]").Should().Equal(expected);
        meta.parameters().Concat(meta.buffers()).Where(t => t.device_type != DeviceType.META).Should().BeEmpty("every parameter and buffer is created on meta, none on the CPU");
        meta.parameters().Should().OnlyContain(p => p.requires_grad);
    }

    [Fact]
    public void Load_DoesNotChangeTheGlobalGeneratorsState()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("model" + ModelFile.Extension);
        using (var flow = Glow.Create([1, 8, 8], new GlowOptions { Scales = 1, StepsPerScale = 1, Width = 4 }))
        {
            ModelFile.Save(flow, path);
        }

        using var before = random.get_rng_state();
        using (ModelFile.LoadFlow(path))
        {
        }

        using var after = random.get_rng_state();
        after.data<byte>().ToArray().Should().Equal(before.data<byte>().ToArray());
    }

    private static NormalizingFlow Build(string builder, Device? device) => builder switch
    {
        "RealNvp" => RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 8, Blocks = 1 }, device),
        "RealNvpBottleneck" => RealNvp.Create(
            [1, 8, 8], new RealNvpOptions { Scales = 2, Width = 4, Blocks = 2, Bottleneck = new LinearBottleneck(3), WeightNorm = true, SpatialMask = CycleMask.Instance }, device),
        "Glow" => Glow.Create([1, 8, 8], new GlowOptions { Scales = 2, StepsPerScale = 2, Width = 4 }, device),
        "GlowPlain" => Glow.Create(
            [1, 8, 8], new GlowOptions { Scales = 1, StepsPerScale = 2, Width = 4, LuDecomposedConvolution = false, Conditioner = new HighwayConditionerFactory(4, 1) }, device),
        "SingleScale" => SingleScaleRealNvp.Create([1, 8, 8], new SingleScaleRealNvpOptions { Couplings = 2, Mask = CheckerboardMask.Instance, Conditioner = new ResNetConditionerFactory(4, 1) }, device),
        "SingleScaleAutoencoder" => SingleScaleRealNvp.Create(
            [1, 14, 14], new SingleScaleRealNvpOptions { Couplings = 2, Mask = HalfMask.Horizontal, Conditioner = new AutoencoderConditionerFactory(5) }, device),
        "Autoregressive" => AutoregressiveFlow.Create([1, 8, 8], new AutoregressiveFlowOptions { Layers = 2, Window = 3, Width = 4, ContextLayers = 1, Blocks = 1 }, device),
        "Tabular" => TabularRealNvp.Create(6, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8, HiddenLayers = 2 }, device),
        _ => throw new ArgumentOutOfRangeException(nameof(builder), builder, null),
    };
}
