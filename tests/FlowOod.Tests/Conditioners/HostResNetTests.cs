using System;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Tests.Precision;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

// HostResNet: a folded ResNet st-network computed in managed code, one image or a batch. Against the folded network's
// libtorch path on a flow trained a few steps (running statistics far from the identity), end to end through the inference
// copy, and the cases it must leave to libtorch.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class HostResNetTests
{
    private static readonly long[] Shape = [1, 8, 8];

    [Fact]
    public void EveryStNetwork_OnTheHost_GivesTheLibtorchPathsOutput()
    {
        using var flow = Trained(new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2 });
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        var networks = Folded(copy);
        networks.Should().NotBeEmpty();

        foreach (var (network, inputChannels, size) in networks)
        {
            using var scope = NewDisposeScope();
            using var generator = new TorchSharp.torch.Generator(21);
            var input = randn([1, inputChannels, size, size], generator: generator);
            var host = network.HostNetwork;
            host.Should().NotBeNull("a plain-layout network of width 16 in float32 has a managed form");

            var managed = host!.TryForward(input, split: false)!;
            var split = host.TryForward(input, split: true)!;
            var routed = network.Forward(input);
            var libtorch = network.ForwardLibtorch(input);

            managed.shape.Should().Equal(libtorch.shape);
            MaxAbs(managed.sub(libtorch)).Should().BeLessThan(1e-5 * Math.Max(1, MaxAbs(libtorch)), "the same function in float32, summed in another order");
            MaxAbs(libtorch).Should().BeGreaterThan(1e-3, "the trained network computes something");
            split.allclose(managed, rtol: 0, atol: 0).Should().BeTrue("each pixel is computed whole by one thread, in the same order");
            routed.allclose(managed, rtol: 0, atol: 0).Should().BeTrue("one float32 CPU image goes to the managed path");
        }
    }

    [Fact]
    public void Batches_OnTheHost_ComputeEachImageWhole_AndAgreeWithOneImageAndLibtorch()
    {
        using var flow = Trained(new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2 });
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        using var half = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        var networks = Folded(copy).Zip(Folded(half)).ToArray();
        networks.Should().NotBeEmpty();

        foreach (var ((network, inputChannels, size), bf16) in networks)
        {
            using var scope = NewDisposeScope();
            using var generator = new TorchSharp.torch.Generator(23);
            var batch = randn([5, inputChannels, size, size], generator: generator);
            var host = network.HostNetwork!;

            var managed = host.TryForward(batch, split: false, threads: 2)!;
            var libtorch = network.ForwardLibtorch(batch);
            var routed = network.Forward(batch);

            managed.shape.Should().Equal(libtorch.shape);
            MaxAbs(managed.sub(libtorch)).Should().BeLessThan(1e-5 * Math.Max(1, MaxAbs(libtorch)), "the same function in float32");
            for (int i = 0; i < 4; i++)
            {
                var pair = host.TryForward(batch.narrow(0, i, 2), split: false, threads: 2)!;
                pair.allclose(managed.narrow(0, i, 2), rtol: 0, atol: 0).Should().BeTrue("images {0} and {1} are computed whole by one thread each, as in any batch", i, i + 1);
                var alone = host.TryForward(batch.narrow(0, i, 1), split: false)!;
                MaxAbs(alone.sub(managed.narrow(0, i, 1))).Should().BeLessThan(
                    1e-5 * Math.Max(1, MaxAbs(libtorch)), "one image takes 2×2 Winograd tiles where a batch may take 4×4 ones: the same function to float32 rounding");
            }

            host.TryForward(batch, split: false, threads: 1)!.allclose(managed, rtol: 0, atol: 0).Should().BeTrue("the thread count does not change the bits");
            routed.allclose(HostConv.WinogradByDefault ? managed : libtorch, rtol: 0, atol: 0).Should().BeTrue(
                "a float32 batch goes to the managed path exactly where the Winograd form is the default");
            var halfBatch = batch.to(ScalarType.BFloat16);
            bf16.Network.Forward(halfBatch).allclose(bf16.Network.ForwardLibtorch(halfBatch), rtol: 0, atol: 0).Should().BeTrue(
                "a bf16 batch stays with libtorch's bf16 convolutions");
        }
    }

    [Fact]
    public void InferenceCopy_ScoresSingleImagesAsTheUnfoldedCopyDoes()
    {
        using var flow = Trained(new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2 });
        using var unfolded = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32);
        using var folded = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        using var scope = NewDisposeScope();
        using var images = FusedInferenceTests.EightBitImages(4, 33);

        for (int i = 0; i < 4; i++)
        {
            var one = images.narrow(0, i, 1);
            var expected = unfolded.LogProb(one, ScoringNoise.BinCentres).ReadDouble();
            var actual = folded.LogProb(one, ScoringNoise.BinCentres).ReadDouble();
            Math.Abs(actual - expected).Should().BeLessThan(1e-4 * 64, "within 1e-4 nats/dim, as folding alone");
        }
    }

    [Fact]
    public void Bf16CopysStNetworks_OnTheHost_AreCloserToFloat32ThanLibtorchsBf16()
    {
        using var flow = Trained(new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2 });
        using var fp32 = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        using var bf16 = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        var pairs = Folded(fp32).Zip(Folded(bf16)).ToArray();
        pairs.Should().NotBeEmpty();

        foreach (var (single, half) in pairs)
        {
            using var scope = NewDisposeScope();
            using var generator = new TorchSharp.torch.Generator(22);
            var input = randn([1, half.InputChannels, half.Size, half.Size], generator: generator).to(ScalarType.BFloat16);
            var host = half.Network.HostNetwork;
            host.Should().NotBeNull("a bf16 network of width 16 has a managed form, computed in float32");

            var managed = host!.TryForward(input, split: false)!;
            var routed = half.Network.Forward(input);
            var libtorch = half.Network.ForwardLibtorch(input);
            var reference = single.Network.ForwardLibtorch(input.to(ScalarType.Float32));

            managed.dtype.Should().Be(ScalarType.BFloat16, "the output has the input's dtype, as libtorch's");
            routed.allclose(managed, rtol: 0, atol: 0).Should().BeTrue("one bf16 CPU image goes to the managed path");
            // Both round the output to bf16, which sets the largest error; the mean shows the feature maps' rounding.
            var hostError = managed.to(ScalarType.Float32).sub(reference).abs();
            var libtorchError = libtorch.to(ScalarType.Float32).sub(reference).abs();
            MaxAbs(hostError).Should().BeLessThanOrEqualTo(MaxAbs(libtorchError)).And.BeLessThan(0.02 * Math.Max(1, MaxAbs(reference)));
            hostError.mean().ReadDouble().Should().BeLessThan(
                libtorchError.mean().ReadDouble(), "only the weights and the output are rounded to bf16, not every feature map");
        }
    }

    [Fact]
    public void InputsThePathDoesNotTake_AreLeftToLibtorch()
    {
        using var flow = Trained(new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2 });
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);
        var (network, inputChannels, size) = Folded(copy)[0];
        var host = network.HostNetwork!;
        using var scope = NewDisposeScope();
        var one = rand(1, inputChannels, size, size);

        host.TryForward(rand(0, inputChannels, size, size), split: false).Should().BeNull("an empty batch");
        host.TryForward(one.to(ScalarType.Float64), split: false).Should().BeNull("float64");
        host.TryForward(rand(1, inputChannels + 1, size, size), split: false).Should().BeNull("another channel count");
        host.TryForward(one.clone().requires_grad_(true), split: false).Should().BeNull("an input that needs a gradient");
        host.TryForward(rand(1, inputChannels, 600, 600), split: false).Should().BeNull("scratch maps above 16 MB");
        host.TryForward(rand(1, inputChannels, 4097, 1), split: false).Should().BeNull("a side above 4096");
        var norms = copy.modules().OfType<ResNetConditioner>().First().modules().OfType<FlowOod.Layers.BatchNorm2dLayer>().ToArray();
        norms.Should().NotBeEmpty();
        norms[0].train();
        try
        {
            host.TryForward(one, split: false).Should().BeNull("a BatchNorm in training mode");
        }
        finally
        {
            norms[0].eval();
        }

        host.TryForward(one, split: false).Should().NotBeNull();
    }

    [Theory]
    [InlineData("widths 4 and 8")]
    [InlineData("bottleneck")]
    public void NetworksTheKernelsDoNotCover_HaveNoManagedForm(string kind)
    {
        var options = kind switch
        {
            "widths 4 and 8" => new RealNvpOptions { Scales = 2, Width = 4, Blocks = 2 },
            _ => new RealNvpOptions { Scales = 2, Width = 16, Blocks = 2, Bottleneck = new LinearBottleneck(6) },
        };
        using var flow = Trained(options);
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);

        var networks = Folded(copy);

        networks.Should().NotBeEmpty().And.OnlyContain(n => n.Network.HostNetwork == null);
    }

    // Every folded st-network of the flow with the input shape it meets (recorded by a hook during one LogProb).
    private static (FusedResNet Network, int InputChannels, int Size)[] Folded(NormalizingFlow flow)
    {
        var found = new System.Collections.Generic.List<(FusedResNet, int, int)>();
        var removers = flow.modules().OfType<ResNetConditioner>().Where(c => c.Folded is not null)
            .Select(c => c.register_forward_hook((_, input, output) =>
            {
                found.Add((c.Folded!, (int)input.shape[1], (int)input.shape[2]));
                return output;
            }))
            .ToList();
        try
        {
            using var inference = inference_mode();
            using var images = FusedInferenceTests.EightBitImages(2, 40);
            flow.LogProb(images, ScoringNoise.BinCentres).Dispose();
        }
        finally
        {
            removers.ForEach(r => r.remove());
        }

        return found.ToArray();
    }

    private static double MaxAbs(Tensor tensor)
    {
        using var absolute = tensor.abs();
        using var max = absolute.max();
        return max.ReadDouble();
    }

    private static NormalizingFlow Trained(RealNvpOptions options)
    {
        TorchSharp.torch.random.manual_seed(17);
        var flow = RealNvp.Create(Shape, options);
        using var data = FusedInferenceTests.EightBitImages(64, 30);
        new FlowTrainer(flow, new TrainingOptions { Steps = 4, BatchSize = 16, Seed = 17, LearningRate = 3e-3 })
            .Train(data, cancellationToken: TestContext.Current.CancellationToken);
        return flow;
    }
}
