using System;
using System.Linq;
using FlowOod.Embeddings;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;

namespace FlowOod.Tests.Embeddings;

// Small synthetic embeddings: correlated Gaussian rows of D = 8 (x_k = z_k + 0.5·z_(k−1) + shift, z ~ N(0, 1)),
// drawn from System.Random so torch's generator is never touched.
internal static class EmbeddingTestData
{
    public const int Dimension = 8;

    public static EmbeddingDetectorOptions Options { get; } = new()
    {
        TargetFalsePositiveRate = 0.05,
        CalibrationFraction = 0.4,
        Seed = 3,
        FeatureFlow = new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16 },
            Training = new TrainingOptions { Steps = 150, BatchSize = 64, Seed = 5 },
        },
    };

    public static float[][] Rows(int count, int seed, double shift = 0, int dimension = Dimension)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var z = Enumerable.Range(0, dimension).Select(_ => Normal(random)).ToArray();
            return Enumerable.Range(0, dimension).Select(k => (float)(z[k] + (k > 0 ? 0.5 * z[k - 1] : 0) + shift)).ToArray();
        }).ToArray();
    }

    public static float[] Flat(float[][] rows) => rows.SelectMany(r => r).ToArray();

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

// One detector fitted once for the tests that only use it.
public sealed class FittedEmbeddingDetector : IDisposable
{
    public FittedEmbeddingDetector()
    {
        FlowOodRuntime.EnsureAvailable();
        Detector = EmbeddingDetector.Fit(EmbeddingTestData.Rows(500, seed: 1), EmbeddingTestData.Options);
    }

    public EmbeddingDetector Detector { get; }

    public void Dispose() => Detector.Dispose();
}
