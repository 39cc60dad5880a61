using System;
using System.Linq;
using FlowOod.Analysis;
using FlowOod.Conditioners;
using FlowOod.Models;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Cli.Tests;

// The Sec. 6 co-adaptation criterion: the paper's expectation tested on hand-made per-image numbers both ways (held,
// reversed, and a difference smaller than its noise), and the per-image collection agreeing with the library's R².
public sealed class CoAdaptationCriterionTests
{
    private static readonly string[] Names = ["coupling 1 (scale 1)", "coupling 2 (scale 1)", "coupling 3 (scale 1)"];

    [Fact]
    public void Evaluate_ThePapersPattern_HoldsEveryExpectation()
    {
        // Layer 1: R² 0.5 on Fashion, 0.1 on MNIST; layers 2 and 3: 0.8 on both.
        var (rows, checks) = CoAdaptationCriterion.Evaluate(Layers([0.5, 0.8, 0.8], 0.05, 200, 1), Layers([0.1, 0.8, 0.78], 0.05, 200, 2), 500, seed: 1);

        rows.Select(r => r.Layer).Should().Equal(Names);
        rows[0].InDistribution.Should().BeApproximately(0.5, 0.02);
        rows[0].Ood.Should().BeApproximately(0.1, 0.02);
        rows.Should().OnlyContain(r => r.InLow < r.InDistribution && r.InDistribution < r.InHigh && r.OodLow < r.Ood && r.Ood < r.OodHigh);
        checks.Should().HaveCount(5, "layer 1's test, then two for each later layer");
        checks.Should().OnlyContain(c => c.Held);
        checks[0].Target.Should().Be("R²₁ Fashion − R²₁ MNIST > 0 (95% CI above 0)");
        checks[1].Target.Should().Be("R²₂ MNIST − R²₁ MNIST > 0 (95% CI above 0)");
        checks[2].Target.Should().Be("R²₂ MNIST − R²₂ Fashion > −0.1 (95% CI)");
    }

    [Fact]
    public void Evaluate_TheReversePattern_FailsEveryExpectation()
    {
        // Layer 1 predicts MNIST better than Fashion; the later layers predict MNIST worse than layer 1 and than Fashion.
        var (_, checks) = CoAdaptationCriterion.Evaluate(Layers([0.3, 0.8, 0.8], 0.05, 200, 3), Layers([0.6, 0.2, 0.4], 0.05, 200, 4), 500, seed: 1);

        checks.Should().HaveCount(5).And.OnlyContain(c => !c.Held);
    }

    [Fact]
    public void Evaluate_DifferencesSmallerThanTheirNoise_DoNotHold()
    {
        // Layer 1 lower on MNIST by 0.02 and layer 2 higher than layer 1 by 0.03, with per-image noise 0.5 over 40 images.
        var (_, checks) = CoAdaptationCriterion.Evaluate(Layers([0.5, 0.53, 0.53], 0.5, 40, 5), Layers([0.48, 0.51, 0.51], 0.5, 40, 6), 500, seed: 1);

        checks[0].Held.Should().BeFalse("the layer-1 difference is inside its interval's noise");
        checks[1].Held.Should().BeFalse();
    }

    [Fact]
    public void Evaluate_MismatchedLayers_Throws()
    {
        FluentActions.Invoking(() => CoAdaptationCriterion.Evaluate(Layers([0.5, 0.8], 0.1, 20, 1), Layers([0.5], 0.1, 20, 2), 100, 1))
            .Should().Throw<ArgumentException>().WithMessage("*same coupling layers*");
    }

    [Fact]
    public void Collect_AgreesWithTheLibrarysRSquared()
    {
        using var scope = NewDisposeScope();
        using var flow = SingleScaleRealNvp.Create([1, 8, 8], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new ResNetConditionerFactory(width: 4, blocks: 1) });
        using (no_grad())
        {
            using var generator = new Generator(7);
            foreach (var p in flow.parameters())
            {
                p.normal_(0, 0.3, generator); // a nonzero shift t in every layer
            }
        }

        flow.eval();
        var random = new Random(8);
        using var images = tensor(Enumerable.Range(0, 20 * 64).Select(_ => random.Next(256) / 255f).ToArray(), [20, 1, 8, 8]);

        var collected = CoAdaptationCriterion.Collect(flow, images, ScoringNoise.BinCentres, batchSize: 7);
        var library = CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres, batchSize: 5);

        collected.Select(l => l.Layer).Should().Equal(library.Select(p => p.Name));
        collected.Select(l => l.RSquared).Should().Equal(library.Select(p => p.RSquared), (a, b) => Math.Abs(a - b) < 1e-4);
        collected.Should().OnlyContain(l => l.Residual.Length == 20 && l.Residual.All(r => r > 0));
    }

    // Per-image residuals with deviation 1 each, so that layer k's R² is about rSquared[k] (per-image noise sd given).
    private static LayerImages[] Layers(double[] rSquared, double noise, int images, int seed)
    {
        var random = new Random(seed);
        return rSquared.Select((r, k) => new LayerImages(Names[k],
            Enumerable.Range(0, images).Select(_ => Math.Max(0, 1 - r + (noise * Gaussian(random)))).ToArray(),
            Enumerable.Repeat(1.0, images).ToArray())).ToArray();
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
