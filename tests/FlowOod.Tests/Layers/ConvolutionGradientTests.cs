using System;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Layers;

/// <summary>
/// Every convolution layer's float32 gradients (input and parameters) agree with the same layer's float64 ones, which
/// libtorch computes without oneDNN. On an AVX-512 CPU (AMD EPYC Zen 5, libtorch 2.10 with oneDNN 3.7.1) oneDNN's
/// float32 backward-data kernel returned wrong input gradients, up to the gradient's own size and at times NaN, for one
/// input channel, and, in libtorch's default NCHW layout, for output channels not a multiple of 16; float64 is the
/// reference. Each shape runs three times: the wrong values depended on thread timing.
/// </summary>
public sealed class ConvolutionGradientTests
{
    public static TheoryData<string, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (var kind in new[] { "Conv3x3", "Conv1x1", "Conv4x4Stride2", "Causal", "WeightNorm", "Transposed", "Transposed4x4Stride2" })
        {
            foreach (var inputChannels in new[] { 1, 2, 3 })
            {
                foreach (var outputChannels in new[] { 1, 2, 4, 24 })
                {
                    data.Add(kind, inputChannels, outputChannels, 8);
                }
            }
        }

        data.Add("Conv3x3", 1, 2, 28);
        data.Add("Conv3x3", 64, 2, 14);
        data.Add("Conv3x3", 1, 64, 28);
        return data;
    }

    public static TheoryData<string, int, int> Bfloat16Cases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var kind in new[] { "Conv3x3", "Conv4x4Stride2", "Causal", "Transposed" })
        {
            foreach (var (inputChannels, outputChannels) in new[] { (1, 2), (1, 24), (2, 4), (3, 24), (64, 2) })
            {
                data.Add(kind, inputChannels, outputChannels);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32Gradients_MatchFloat64(string kind, int inputChannels, int outputChannels, int size) =>
        AssertGradientsMatchFloat64(kind, inputChannels, outputChannels, size, ScalarType.Float32);

    /// <summary>
    /// A bf16 input (mixed-precision training: the layer computes with bf16 copies of its float32 parameters) against
    /// float64 with the same bf16-rounded weights; the bound allows bf16's rounding of the output (2⁻⁸ relative).
    /// </summary>
    [Theory]
    [MemberData(nameof(Bfloat16Cases))]
    public void Bfloat16Gradients_MatchFloat64(string kind, int inputChannels, int outputChannels) =>
        AssertGradientsMatchFloat64(kind, inputChannels, outputChannels, 8, ScalarType.BFloat16);

    private static void AssertGradientsMatchFloat64(string kind, int inputChannels, int outputChannels, int size, ScalarType dtype)
    {
        var tolerance = dtype == ScalarType.BFloat16 ? 2e-2 : 1e-4;
        using var generator = new Generator(17);
        for (int repeat = 0; repeat < 3; repeat++)
        {
            using var scope = NewDisposeScope();
            using var layer = Create(kind, inputChannels, outputChannels);
            using (no_grad())
            {
                foreach (var parameter in layer.parameters())
                {
                    parameter.copy_(randn(parameter.shape, generator: generator).TimesInPlace(0.5).to(dtype).to(parameter.dtype));
                }
            }

            var input = randn(new long[] { 32, inputChannels, size, size }, generator: generator).to(dtype);
            var (inputGradient, parameterGradients, outputGradient) = Gradients(layer, input, null, generator);
            layer.to(ScalarType.Float64);
            var (referenceInput, referenceParameters, _) = Gradients(layer, input.to(ScalarType.Float64), outputGradient, generator);

            var what = $"{dtype} {kind} {inputChannels}->{outputChannels}";
            AssertClose(inputGradient, referenceInput, tolerance, $"{what} input gradient (repeat {repeat})");
            foreach (var (name, gradient) in parameterGradients)
            {
                AssertClose(gradient, referenceParameters.Single(p => p.Name == name).Gradient, tolerance, $"{what} {name} gradient (repeat {repeat})");
            }
        }
    }

    private static nn.Module<Tensor, Tensor> Create(string kind, int inputChannels, int outputChannels) => kind switch
    {
        "Conv3x3" => new Conv2dLayer(inputChannels, outputChannels, 3, padding: 1),
        "Conv1x1" => new Conv2dLayer(inputChannels, outputChannels, 1),
        "Causal" => new CausalConv2dLayer(inputChannels, outputChannels, 5, includeCentre: false),
        "WeightNorm" => new WeightNormConv2d(inputChannels, outputChannels, 3, padding: 1),
        "Conv4x4Stride2" => new Conv2dLayer(inputChannels, outputChannels, (4, 4), (2, 2)),
        "Transposed" => new ConvTranspose2dLayer(inputChannels, outputChannels, (3, 3), (1, 1)),
        "Transposed4x4Stride2" => new ConvTranspose2dLayer(inputChannels, outputChannels, (4, 4), (2, 2)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static (Tensor Input, (string Name, Tensor Gradient)[] Parameters, Tensor OutputGradient) Gradients(
        nn.Module<Tensor, Tensor> layer, Tensor input, Tensor? outputGradient, Generator generator)
    {
        layer.zero_grad();
        var x = input.detach().requires_grad_(true);
        var y = layer.call(x);
        var upstream = outputGradient?.to(y.dtype) ?? randn(y.shape, generator: generator).to(y.dtype);
        y.backward([upstream]);
        var parameters = layer.named_parameters().Select(p => (p.name, p.parameter.grad!.detach().clone())).ToArray();
        return (x.grad!.detach().clone(), parameters, upstream);
    }

    private static void AssertClose(Tensor actual, Tensor reference, double tolerance, string what)
    {
        var expected = reference.to(ScalarType.Float64);
        actual.isfinite().all().item<bool>().Should().BeTrue($"the {what} must be finite");
        var error = actual.to(ScalarType.Float64).sub(expected).abs().max().item<double>();
        var scale = Math.Max(1.0, expected.abs().max().item<double>());
        error.Should().BeLessThan(tolerance * scale, $"the {what} must match float64's");
    }
}
