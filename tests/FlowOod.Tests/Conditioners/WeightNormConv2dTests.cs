using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Models;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class WeightNormConv2dTests
{
    [Fact]
    public void Forward_EqualsConvolutionWithTheNormalisedWeight()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(1);
        using var conv = new WeightNormConv2d(3, 5, 3, padding: 1);
        var parameters = conv.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (no_grad())
        {
            parameters["weight_g"].mul_(rand(5, 1, 1, 1).PlusInPlace(0.5)); // gains away from the initial ‖V‖
        }

        var input = randn(2, 3, 6, 6);
        var v = parameters["weight_v"];
        var expectedWeight = v.div(v.flatten(1).norm(1).reshape(5, 1, 1, 1)).mul(parameters["weight_g"]);

        var output = conv.call(input);

        output.shape.Should().Equal(2, 5, 6, 6);
        output.allclose(nn.functional.conv2d(input, expectedWeight, parameters["bias"], padding: [1, 1]), 1e-5, 1e-6).Should().BeTrue();
    }

    [Fact]
    public void ZeroOutput_GivesZerosAndFiniteGradients()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        using var conv = new WeightNormConv2d(4, 2, 1);
        conv.ZeroOutput();
        var input = randn(3, 4, 5, 5);

        var output = conv.call(input);
        output.sum().backward();

        output.abs().max().ReadDouble().Should().Be(0.0);
        foreach (var parameter in conv.parameters())
        {
            parameter.grad.Should().NotBeNull();
            parameter.grad!.isfinite().all().ReadBoolean().Should().BeTrue("‖V‖ stays non-zero, so there is no 0/0");
        }
    }

    [Fact]
    public void RealNvpFashionMnistPaper_ParameterCountNextToTheReference()
    {
        using var scope = NewDisposeScope();
        using var flow = RealNvp.Create([1, 28, 28], RealNvpOptions.FashionMnistPaper);

        var count = flow.parameters().Sum(p => p.numel());

        // Kirichenko et al.'s RealNVP (2 scales, width 64, 6 blocks, weight-normed convolutions) has 14,707,336
        // parameters (paper.md §6.5). Ours differs only in the per-channel scale σ of each coupling, which the reference
        // weight-normalises too (a gain per σ entry): σ has 1 entry in the 3 first-scale couplings, 2 in the 3
        // channel-wise and 2 in the 4 last-scale couplings, so 3·1 + 3·2 + 4·2 = 17 fewer.
        count.Should().Be(14_707_336 - 17);
    }
}
