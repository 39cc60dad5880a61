using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// The Sec. 5 layout measure (LatentLayout) on synthetic images with a blob at a random place each: latents that keep the
// image's layout (the identity flow's, a squeeze-and-permute flow's, a latent that is large on the edges only) are
// called kept, clearly above the shuffled-image null; latents scrambled over pixel positions or independent of the
// image are not.
public sealed class LatentLayoutTests
{
    private const int Side = 16;
    private const int Count = 60;

    [Fact]
    public void Score_IdentityLatent_IsKeptFarAboveTheShuffledNull()
    {
        var images = Blobs(Count, seed: 1);
        var latents = images.Select(v => (float)Logit(0.05 + (0.9 * v))).ToArray();

        var s = LatentLayout.Score("identity", "blobs", images, latents, Count, 1, Side, Side, draws: 1, seed: 1);

        s.Images.Should().Be(Count);
        s.Own.Mean.Should().BeGreaterThan(0.8, "|z| is a function of the pixel's own intensity");
        s.Shuffled.Mean.Should().BeLessThan(0.5);
        s.GainLow.Should().BeGreaterThan(0.3);
        s.WinsLow.Should().BeGreaterThan(LatentLayoutSummary.Threshold);
        s.Kept.Should().BeTrue();
    }

    [Fact]
    public void Score_LatentLargeOnTheEdgesWithRandomSign_IsKeptThoughItsPearsonCorrelationWithThePixelsIsNearZero()
    {
        // What the RealNVP pictures show: z bright or dark on the outline, flat elsewhere.
        var images = Blobs(Count, seed: 2);
        var random = new Random(3);
        var latents = new float[images.Length];
        var pearson = new double[Count];
        for (int n = 0; n < Count; n++)
        {
            var image = images.Skip(n * Side * Side).Take(Side * Side).Select(v => (double)v).ToArray();
            var edges = LatentLayout.Sobel(image, Side, Side);
            for (int i = 0; i < edges.Length; i++)
            {
                latents[(n * Side * Side) + i] = (float)((random.Next(2) == 0 ? -1 : 1) * ((2 * edges[i]) + (0.1 * random.NextDouble())));
            }

            pearson[n] = Pearson(image, latents.Skip(n * Side * Side).Take(Side * Side).Select(v => (double)v).ToArray());
        }

        var s = LatentLayout.Score("edges", "blobs", images, latents, Count, 1, Side, Side, draws: 1, seed: 1);

        Math.Abs(pearson.Average()).Should().BeLessThan(0.1, "the old per-image Pearson corr(x, z) misses this layout");
        s.Kept.Should().BeTrue();
        s.Edges.Mean.Should().BeGreaterThan(0.8);
        s.EdgesShuffled.Should().BeLessThan(s.Edges.Mean - 0.5);
    }

    [Fact]
    public void Score_LatentScrambledOverPixelPositions_IsNotKeptAndSitsOnTheNull()
    {
        var images = Blobs(Count, seed: 4);
        var identity = images.Select(v => (float)Logit(0.05 + (0.9 * v))).ToArray();
        var order = Enumerable.Range(0, Side * Side).ToArray();
        new Random(9).Shuffle(order); // one fixed scramble of the positions, the same for every image
        var scrambled = new float[identity.Length];
        for (int n = 0; n < Count; n++)
        {
            for (int i = 0; i < Side * Side; i++)
            {
                scrambled[(n * Side * Side) + i] = identity[(n * Side * Side) + order[i]];
            }
        }

        var s = LatentLayout.Score("scrambled", "blobs", images, scrambled, Count, 1, Side, Side, draws: 1, seed: 1);

        s.Kept.Should().BeFalse();
        Math.Abs(s.Gain).Should().BeLessThan(0.1, "own and shuffled images predict a scrambled latent equally badly");
        s.Wins.Should().BeInRange(0.3, 0.7, "chance is 0.5");
    }

    [Fact]
    public void Score_LatentIndependentOfTheImage_IsNotKept()
    {
        var images = Blobs(Count, seed: 5);
        var random = new Random(6);
        var noise = images.Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

        var s = LatentLayout.Score("noise", "blobs", images, noise, Count, 1, Side, Side, draws: 1, seed: 1);

        s.Kept.Should().BeFalse();
        s.GainHigh.Should().BeLessThan(0.1);
        s.WinsHigh.Should().BeLessThan(LatentLayoutSummary.Threshold);
    }

    [Fact]
    public void Measure_FlowsWhoseLatentKeepsTheLayout_AreKept()
    {
        var bytes = Blobs(40, seed: 7).Select(v => (byte)Math.Round(v * 255)).ToArray();
        var set = new ImageDataset("blobs", Side, Side, bytes, new byte[40]);
        using var identity = new NormalizingFlow(new Chain(new UniformDequantization(), new Logit(0.05)), [1, Side, Side], inputRange: (0, 1), discretizationLevels: 256);
        // Squeezes and permutes inside every 2 × 2 block: the reshape model undoes it, so the layout is still there.
        using var squeezed = new NormalizingFlow(
            new Chain(new UniformDequantization(), new Logit(0.05), new Squeeze(), Permutation.Reverse(4), new InverseOf(new Squeeze())), [1, Side, Side], inputRange: (0, 1), discretizationLevels: 256);
        identity.eval();
        squeezed.eval();
        var settings = new LatentLayoutSettings { Images = 40, Draws = 2, BatchSize = 16, Seed = 2 };

        var first = LatentLayout.Measure(identity, "identity", [set], settings).Single();
        var second = LatentLayout.Measure(squeezed, "squeeze", [set], settings).Single();

        first.Kept.Should().BeTrue();
        second.Kept.Should().BeTrue();
        second.Gain.Should().BeApproximately(first.Gain, 1e-6, "the reshape model puts every coordinate back");
        (first.Model, first.Set, first.Images, first.Draws).Should().Be(("identity", "blobs", 40, 2));
        FluentActions.Invoking(() => LatentLayout.Measure(identity, "x", [new ImageDataset("small", 8, 8, new byte[64 * 4], new byte[4])], settings))
            .Should().Throw<ArgumentException>().WithMessage("*8×8*[1, 16, 16]*");
    }

    [Fact]
    public void Spearman_AverageRanksForTies_AndNaNWhenConstant()
    {
        LatentLayout.Spearman([1, 2, 3, 4], [10, 20, 30, 40]).Should().BeApproximately(1, 1e-12);
        LatentLayout.Spearman([1, 2, 3, 4], [4, 3, 2, 1]).Should().BeApproximately(-1, 1e-12);
        LatentLayout.Spearman([1, 1, 2, 2], [1, 2, 3, 4]).Should().BeApproximately(0.894427191, 1e-9);
        double.IsNaN(LatentLayout.Spearman([1, 1, 1], [1, 2, 3])).Should().BeTrue();
        LatentLayout.Derangement(50, seed: 3).Select((p, i) => p == i).Should().NotContain(true);
        LatentLayout.Derangement(50, seed: 3).Order().Should().Equal(Enumerable.Range(0, 50));
        // Wilson 95% interval of 8/10: 0.490 to 0.943 (the textbook value).
        var (share, low, high) = LatentLayout.Wilson(8, 10);
        (share, Math.Round(low, 3), Math.Round(high, 3)).Should().Be((0.8, 0.49, 0.943));
    }

    // Count images Side × Side in [0, 1]: a Gaussian blob of random place, width and height each, on a black background.
    private static float[] Blobs(int count, int seed)
    {
        var random = new Random(seed);
        var images = new float[count * Side * Side];
        for (int n = 0; n < count; n++)
        {
            double cy = 3 + (random.NextDouble() * (Side - 6)), cx = 3 + (random.NextDouble() * (Side - 6)), sigma = 1.2 + random.NextDouble(), peak = 0.7 + (0.3 * random.NextDouble());
            for (int r = 0; r < Side; r++)
            {
                for (int c = 0; c < Side; c++)
                {
                    var d2 = ((r - cy) * (r - cy)) + ((c - cx) * (c - cx));
                    images[(n * Side * Side) + (r * Side) + c] = (float)(peak * Math.Exp(-d2 / (2 * sigma * sigma)));
                }
            }
        }

        return images;
    }

    private static double Logit(double p) => Math.Log(p / (1 - p));

    private static double Pearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average();
        var cov = a.Zip(b, (x, y) => (x - ma) * (y - mb)).Sum();
        return cov / Math.Sqrt(a.Sum(x => (x - ma) * (x - ma)) * b.Sum(y => (y - mb) * (y - mb)));
    }
}
