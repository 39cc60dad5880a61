using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Masks;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// HostAffineCoupling: an affine coupling's element-wise step in managed code for a few float32 images scored without
// gradients. It must agree with libtorch's path (taken with gradients on) to float32 rounding, for both mask kinds,
// every built-in scale activation, both directions and both layouts of the st-network's output, copy the other entries
// bit for bit, and decline what it does not cover.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class HostAffineCouplingTests
{
    public static TheoryData<string, int, string> Cases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var mask in new[] { "checkerboard", "channel" })
        {
            foreach (var layer in new[] { 0, 1 })
            {
                foreach (var activation in new[] { "tanh", "sigmoid", "softclamp" })
                {
                    data.Add(mask, layer, activation);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndInverse_WithoutGradients_MatchLibtorchsPath(string mask, int layer, string activation)
    {
        using var coupling = Create(mask, layer, activation, seed: 7 + layer);
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(11);
        var input = randn([2, 4, 6, 6], generator: generator);

        var (libtorch, libtorchLogDet) = coupling.Forward(input);
        var (inverseLibtorch, inverseLibtorchLogDet) = coupling.Inverse(input);
        (Tensor Output, Tensor LogDet) host, inverseHost;
        using (no_grad())
        {
            host = coupling.Forward(input);
            inverseHost = coupling.Inverse(input);
        }

        libtorch.requires_grad.Should().BeTrue("with gradients on, libtorch computes the step");
        host.Output.requires_grad.Should().BeFalse();
        host.Output.allclose(libtorch.detach(), rtol: 1e-5, atol: 1e-6).Should().BeTrue();
        host.LogDet.allclose(libtorchLogDet.detach(), rtol: 1e-5, atol: 1e-5).Should().BeTrue();
        inverseHost.Output.allclose(inverseLibtorch.detach(), rtol: 1e-5, atol: 1e-6).Should().BeTrue();
        inverseHost.LogDet.allclose(inverseLibtorchLogDet.detach(), rtol: 1e-5, atol: 1e-5).Should().BeTrue();

        var transformed = TransformedEntries(coupling, input.shape);
        host.Output.masked_select(transformed.logical_not()).allclose(input.masked_select(transformed.logical_not()), rtol: 0, atol: 0).Should()
            .BeTrue("the other entries are copied bit for bit");
        host.Output.masked_select(transformed).ne(input.masked_select(transformed)).all().item<bool>().Should().BeTrue();
        using (no_grad())
        {
            coupling.Inverse(host.Output).Output.allclose(input, rtol: 1e-5, atol: 1e-5).Should().BeTrue("the inverse undoes the forward map");
        }
    }

    [Fact]
    public void TryApply_TakesFloat32CpuImagesWithoutGradients_InEitherLayoutOfTheMaps()
    {
        using var coupling = Create("checkerboard", 0, "tanh", seed: 3);
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(12);
        var input = randn([1, 4, 6, 6], generator: generator);
        var maps = randn([1, 8, 6, 6], generator: generator);
        var mask = TransformedEntries(coupling, [4, 6, 6]);
        var scale = ones(4, 1, 1).TimesInPlace(0.7);
        using var noGrad = no_grad();

        var contiguous = HostAffineCoupling.TryApply(input, maps, mask, null, ScaleActivation.RealNvpTanh, scale, inverse: false);
        var channelsLast = HostAffineCoupling.TryApply(input, ConvLayout.ChannelsLast(maps), mask, null, ScaleActivation.RealNvpTanh, scale, inverse: false);

        contiguous.Should().NotBeNull();
        channelsLast.Should().NotBeNull();
        channelsLast!.Value.Output.allclose(contiguous!.Value.Output, rtol: 0, atol: 0).Should().BeTrue("the same values, read through the strides");
        channelsLast.Value.LogDet.allclose(contiguous.Value.LogDet, rtol: 0, atol: 0).Should().BeTrue();
        var s = maps.narrow(1, 0, 4).tanh().mul(scale);
        var expected = where(mask, input.Plus(maps.narrow(1, 4, 4)).mul(s.exp()), input);
        contiguous.Value.Output.allclose(expected, rtol: 1e-5, atol: 1e-6).Should().BeTrue();
        contiguous.Value.LogDet.allclose(s.mul(mask).sum(), rtol: 1e-5, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void TryApply_DeclinesWhatItDoesNotCover()
    {
        using var scope = NewDisposeScope();
        var input = randn(1, 4, 5, 5);
        var maps = randn(1, 8, 5, 5);
        var mask = ones(4, 5, 5, dtype: ScalarType.Bool);
        var channels = tensor(new long[] { 2, 3 });
        var scale = ones(4, 1, 1);
        var tanh = ScaleActivation.RealNvpTanh;
        (Tensor, Tensor)? Try(Tensor x, Tensor m, Tensor? transformMask, Tensor? transformChannels, Tensor? sigma) =>
            HostAffineCoupling.TryApply(x, m, transformMask, transformChannels, tanh, sigma, inverse: false);

        Try(input, maps, mask, null, scale).Should().BeNull("gradients are on");
        using var noGrad = no_grad();
        Try(input, maps, mask, null, scale).Should().NotBeNull();
        Try(input.to(ScalarType.Float64), maps, mask, null, scale).Should().BeNull("float64");
        Try(input, maps.to(ScalarType.BFloat16), mask, null, scale).Should().BeNull("bf16 maps");
        Try(input.transpose(2, 3), maps, mask, null, scale).Should().BeNull("a non-contiguous input");
        Try(input, maps.narrow(1, 0, 6).contiguous(), mask, null, scale).Should().BeNull("maps for 3 channels");
        Try(input, maps, mask, null, null).Should().BeNull("RealNvpTanh without its scale");
        Try(input, maps, null, null, scale).Should().BeNull("neither a mask nor channels");
        Try(input, maps, mask, channels, scale).Should().BeNull("both a mask and channels");
        var halfMaps = maps.narrow(1, 0, 4).contiguous();
        var halfScale = scale.narrow(0, 0, 2).contiguous();
        Try(input, halfMaps, null, tensor(new long[] { 2, 4 }), halfScale).Should().BeNull("channel 4 of 4");
        Try(input, halfMaps, null, channels, halfScale).Should().NotBeNull("channels 2 and 3");
        Try(randn(2, 4, 100, 100), randn(2, 8, 100, 100), ones(4, 100, 100, dtype: ScalarType.Bool), null, scale).Should()
            .BeNull("more than MaxElements values");
    }

    private static AffineCoupling Create(string mask, int layer, string activation, int seed)
    {
        random.manual_seed(seed);
        IMaskStrategy strategy = mask == "channel" ? ChannelMask.Instance : CheckerboardMask.Instance;
        var scaleActivation = activation switch
        {
            "tanh" => ScaleActivation.RealNvpTanh,
            "sigmoid" => ScaleActivation.GlowSigmoid,
            _ => ScaleActivation.SoftClamp(2),
        };
        var coupling = new AffineCoupling([4, 6, 6], strategy, layer, new ResNetConditionerFactory(8, 1), scaleActivation);
        using (no_grad())
        {
            // The zero-initialised output layer would make s = t = 0 (an identity map): give the st-network's weights values.
            foreach (var parameter in coupling.parameters())
            {
                parameter.uniform_(-0.3, 0.3);
            }
        }

        coupling.eval();
        return coupling;
    }

    // The transformed entries of one example, as a bool tensor of the event shape (broadcast over a batch).
    private static Tensor TransformedEntries(CouplingLayer coupling, ReadOnlySpan<long> shape) =>
        tensor(coupling.Mask.Transform.ToArray(), dtype: ScalarType.Bool).reshape(coupling.Mask.EventShape.ToArray()).expand(shape.ToArray());
}
