using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Testing;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The autoregressive layer's defining property: latent pixel q depends on input pixel p only when p = q or p comes
// before q in the layer's order and lies in q's causal window. Checked by changing one input pixel of a perturbed layer
// (random st-network, not the identity) and listing the latent pixels that move.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class AutoregressiveAffineTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_OnePixelChanged_MovesExactlyItselfAndTheLaterPixelsOfItsWindow(bool reverse)
    {
        random.manual_seed(20261206);
        using var layer = new AutoregressiveAffine([1, 6, 6], window: 3, width: 16, contextLayers: 0, blocks: 1, reverse);
        BijectorCase.Perturb(layer);
        var moved = MovedPixels(layer, [1, 6, 6], (2, 3));

        // Raster order, window 3: pixel (h, w) reads (h − 1, w − 1 … w + 1) and (h, w − 1). Reverse order mirrors it.
        var expected = reverse
            ? new[] { (2, 3), (2, 2), (1, 2), (1, 3), (1, 4) }
            : new[] { (2, 3), (2, 4), (3, 2), (3, 3), (3, 4) };
        moved.Should().BeEquivalentTo(expected);
    }

    [Fact]
    public void Forward_ContextLayers_WidenTheWindowButNeverReachEarlierPixels()
    {
        random.manual_seed(20261207);
        using var layer = new AutoregressiveAffine([1, 8, 8], window: 3, width: 16, contextLayers: 1, blocks: 0);
        BijectorCase.Perturb(layer);
        var moved = MovedPixels(layer, [1, 8, 8], (3, 3));

        moved.Should().Contain((4, 5), "one 3×3 context layer reaches a pixel two columns to the right, one row down");
        moved.Should().OnlyContain(q => (q.Item1 == 3 && q.Item2 == 3) || q.Item1 > 3 || (q.Item1 == 3 && q.Item2 > 3), "a pixel never moves a pixel before it");
        moved.Should().OnlyContain(q => q.Item1 - 3 <= 2 && Math.Abs(q.Item2 - 3) <= 2, "the window is (k − 1)/2 + 1 = 2 pixels wide on each side");
    }

    [Fact]
    public void LocalPreset_EachLatentSeesOnlyItsSevenBySevenCausalWindow()
    {
        random.manual_seed(20261208);
        using var flow = AutoregressiveFlow.Create([1, 28, 28], AutoregressiveFlowOptions.Local with { Width = 8, DequantizationNoise = false });
        BijectorCase.Perturb(flow);
        var moved = MovedPixels(flow.Transform, [1, 28, 28], (10, 10));

        moved.Should().Contain((13, 13)).And.Contain((13, 7)).And.Contain((10, 11));
        moved.Should().OnlyContain(q => (q.Item1 == 10 && q.Item2 == 10) || (q.Item1 >= 10 && q.Item1 <= 13 && Math.Abs(q.Item2 - 10) <= 3 && (q.Item1 > 10 || q.Item2 > 10)));
    }

    [Fact]
    public void Create_RejectsAnEvenWindowAndANonImageShape()
    {
        var even = () => new AutoregressiveAffine([1, 4, 4], window: 4, width: 4, contextLayers: 0, blocks: 0);
        even.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("window");
        var vector = () => new AutoregressiveAffine([16], window: 3, width: 4, contextLayers: 0, blocks: 0);
        vector.Should().Throw<ArgumentException>().WithParameterName("eventShape").WithMessage("*[C, H, W]*");
        var options = () => AutoregressiveFlow.Create([1, 4, 4], AutoregressiveFlowOptions.Local with { Window = 2 });
        options.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Window");
    }

    private static List<(int, int)> MovedPixels(Bijector bijector, long[] shape, (int H, int W) pixel)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(5, device: CPU);
        using var scale = 0.8.ToScalar();
        using var offset = 0.1.ToScalar();
        using var step = 0.05.ToScalar();
        using var tolerance = 1e-12.ToScalar();
        var x = rand([1, .. shape], dtype: float64, generator: generator).mul_(scale).add_(offset, One);
        var changed = x.clone();
        changed[0, 0, pixel.H, pixel.W].add_(step, One);
        bijector.to(float64);
        var before = bijector.call(x).Output;
        var after = bijector.call(changed).Output;
        var moved = after.sub(before).abs().gt(tolerance)[0, 0];
        var result = new List<(int, int)>();
        for (int h = 0; h < shape[1]; h++)
        {
            for (int w = 0; w < shape[2]; w++)
            {
                if (moved[h, w].item<bool>())
                {
                    result.Add((h, w));
                }
            }
        }

        return result;
    }

    private static readonly TorchSharp.Scalar One = 1L.ToScalar();
}
