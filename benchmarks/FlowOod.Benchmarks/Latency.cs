using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Embeddings;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Persistence;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// Single-image latency, the gate's case: p50/p99 of one image per call through the compact RealNVP (FlowOod fp32 — the
/// flow and its inference copy (<see cref="ConditionerPrecision.CreateInferenceCopy"/>, BatchNorm folded) —, the bf16
/// inference copy where the CPU has native bf16, ONNX Runtime on FlowOod's export) and through a gate-sized feature flow (<see cref="TabularRealNvp"/> on a 32-dim feature,
/// 4 couplings of width 64, as the gate service sample fits it: FlowOod fp32, bf16 where native, ONNX Runtime), then
/// one embedding per call through an <see cref="EmbeddingDetector"/> of that architecture (its whole public path), and one
/// image per call through an <see cref="OodGate"/> on a small CNN's embedding (chunks of 16 and of 1).
/// </summary>
/// <remarks>
/// The variants of a model take turns in blocks of 10 timed calls (rotated order, one untimed call before each block),
/// so a neighbour's load falls on all of them alike and no call pays for the previous runtime's spinning threads.
/// Line form: <c>latency MODEL PRECISION VARIANT: p50 N ms | p99 N ms | calls N | threads T</c>.
/// FlowOod calls go through <see cref="NegativeLogLikelihoodScorer.Score"/> (input checks included): for the feature flow
/// that is the scorer's managed path for small batches of feature vectors (no libtorch call; see the scorer's remarks),
/// for the image flow libtorch. ONNX Runtime calls wrap the caller's float array (no copy) and run the session.
/// </remarks>
internal static class Latency
{
    private const int FeatureSize = 32;
    private const int BlockCalls = 10;
    private static readonly long[] ImageShape = [1, 28, 28];

    /// <summary>Measures <paramref name="calls"/> timed calls per variant (after 10 warm-up calls each) on <paramref name="images"/> (<c>[N, 1, 28, 28]</c> in [0, 1]).</summary>
    public static void Run(Tensor images, int calls)
    {
        var threads = get_num_threads();
        Console.WriteLine($"latency: cpu {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | threads {threads} (torch and ONNX Runtime intra-op) | {Program.MallocNote} | load average {Peers.LoadAverage()}");
        BenchPrecisions.PrintSkipNote("latency: ");

        random.manual_seed(1);
        using (var image = RealNvp.Create(ImageShape, RealNvpOptions.Compact))
        {
            new FlowTrainer(image, new TrainingOptions { Steps = 3, BatchSize = 64, Seed = 1 }).Train(images);
            Measure("compact RealNVP", image, images.narrow(0, 0, 1), calls, threads);
        }

        random.manual_seed(2);
        using var features = randn(2048, FeatureSize);
        using var feature = TabularRealNvp.Create(FeatureSize, new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 });
        new FlowTrainer(feature, new TrainingOptions { Steps = 20, BatchSize = 128, Seed = 1 }).Train(features);
        Measure($"feature flow ({FeatureSize}-dim TabularRealNvp, 4 couplings of width 64)", feature, features.narrow(0, 0, 1), calls, threads);
        MeasureEmbeddingDetector(features, calls, threads);
        MeasureGate(images, calls, threads);
    }

    // The gate's whole path for one image, as a service calls it: the classifier's forward on a chunk (padded to its
    // size), the 32-dim embedding the gate reads from it, the feature flow (managed) and the p-value. The classifier is
    // the gate sample's small CNN shape with seeded random weights (latency does not depend on training); the gate's
    // default chunk of 16 against a chunk of 1.
    private static void MeasureGate(Tensor images, int calls, int threads)
    {
        random.manual_seed(3);
        using var classifier = nn.Sequential(
            ("embedding", nn.Sequential(
                ("conv1", nn.Conv2d(1, 8, 3, padding: 1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(8, 16, 3, padding: 1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()), ("embed", nn.Linear(16 * 7 * 7, FeatureSize)))),
            ("relu", nn.ReLU()),
            ("logits", nn.Linear(FeatureSize, 10)));
        classifier.eval();
        using var image = images[0];
        foreach (var chunk in new[] { OodGate.DefaultChunkSize, 1 })
        {
            using var gate = OodGate.Fit(classifier, images, new OodGateOptions
            {
                FeatureLayer = "embedding.embed",
                TargetFalsePositiveRate = 0.05,
                CalibrationFraction = 0.25,
                ChunkSize = chunk,
                Seed = 1,
                FeatureFlow = new FeatureSpaceFitOptions
                {
                    Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                    Training = new TrainingOptions { Steps = 20, BatchSize = 128, Seed = 1 },
                },
            });
            var (p50, p99) = TimeCalls(() => gate.ClassifyOne(image), calls);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"latency gate (small CNN, {FeatureSize}-dim embedding, 4 couplings of width 64) fp32 ClassifyOne chunk {chunk}: p50 {p50:F3} ms | p99 {p99:F3} ms | calls {calls} | threads {threads} | one image per call: classifier on the padded chunk, feature flow, p-value"));
        }
    }

    // The embedding detector's path for one embedding of any .NET classifier (a float array): the row's checks, its
    // standardisation, the same flow architecture and the p-value, as a service calls it.
    private static void MeasureEmbeddingDetector(Tensor features, int calls, int threads)
    {
        using var detector = EmbeddingDetector.Fit(features, new EmbeddingDetectorOptions
        {
            Seed = 1,
            FeatureFlow = new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                Training = new TrainingOptions { Steps = 20, BatchSize = 128, Seed = 1 },
            },
        });
        using var first = features[0];
        var row = first.data<float>().ToArray();
        Report("fp32", detector);
        if (BenchPrecisions.MeasuresBFloat16)
        {
            // As a service loads it with Precision = Auto on this processor: bf16 st-networks.
            var path = Path.Combine(Path.GetTempPath(), $"flowood-latency-{Guid.NewGuid():N}.flowood");
            try
            {
                detector.Save(path);
                using var bf16 = EmbeddingDetector.Load(path, new ModelLoadOptions { Precision = ComputePrecision.BFloat16 });
                Report("bf16 (loaded with Precision = BFloat16)", bf16);
            }
            finally
            {
                File.Delete(path);
            }
        }

        void Report(string precision, EmbeddingDetector timed)
        {
            var (p50, p99) = TimeCalls(() => timed.PredictOne(row), calls);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"latency embedding detector ({FeatureSize}-dim, 4 couplings of width 64) {precision} PredictOne: p50 {p50:F3} ms | p99 {p99:F3} ms | calls {calls} | threads {threads} | one float[] row per call, checks and p-value included"));
        }
    }

    private static void Measure(string model, NormalizingFlow flow, Tensor one, int calls, int threads)
    {
        flow.eval();
        var scorers = new List<NegativeLogLikelihoodScorer>();
        try
        {
            var variants = new List<(string Name, Action Call)>();
            void FlowOod(string name, NormalizingFlow scored, bool owns)
            {
                var scorer = new NegativeLogLikelihoodScorer(scored, chunkSize: Peers.Chunk, ownsFlow: owns);
                scorers.Add(scorer);
                variants.Add((name, () => scorer.Score(one)));
            }

            FlowOod("fp32 FlowOod flow", flow, owns: false);
            FlowOod("fp32 FlowOod inference copy", ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32), owns: true);
            if (BenchPrecisions.MeasuresBFloat16)
            {
                FlowOod("bf16 FlowOod inference copy", ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16), owns: true);
            }

            using var ort = new OnnxRuntimePeer(OnnxExport.ToBytes(flow), null, threads, OnnxExport.BitsPerDimOutput, [.. flow.EventShape]);
            var pixels = Peers.Pixels(one);
            variants.Add(($"fp32 {OnnxRuntimePeer.Version} (FlowOod's export)", () => ort.Run(pixels, 0, 1)));

            var gap = Math.Abs(scorers[0].Score(one)[0] - ort.Run(pixels, 0, 1)[0]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"latency {model}: |bits/dim gap| ONNX Runtime vs FlowOod's flow {gap:E2} on the timed input"));
            var times = variants.Select(_ => new double[calls]).ToArray();
            for (int v = 0; v < variants.Count; v++)
            {
                for (int i = 0; i < 10; i++)
                {
                    variants[v].Call();
                }
            }

            // Variants take turns in blocks of BlockCalls timed calls, each block after one untimed call: a runtime's
            // threads keep spinning for a while after its call (libgomp's and ONNX Runtime's), so the first call after a
            // switch would pay for the other runtime's spinning. Call by call, FlowOod's fp32 p50 read 17-22 ms; in
            // blocks, as in bench-fused, 10-11 ms.
            for (int start = 0, block = 0; start < calls; start += BlockCalls, block++)
            {
                for (int k = 0; k < variants.Count; k++)
                {
                    var v = (block + k) % variants.Count;
                    variants[v].Call();
                    for (int i = start; i < Math.Min(calls, start + BlockCalls); i++)
                    {
                        var clock = Stopwatch.StartNew();
                        variants[v].Call();
                        times[v][i] = clock.Elapsed.TotalMilliseconds;
                    }
                }
            }

            var percentiles = times.Select(Percentiles).ToArray();
            for (int v = 0; v < variants.Count; v++)
            {
                var (p50, p99) = percentiles[v];
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"latency {model} {variants[v].Name}: p50 {p50:F3} ms | p99 {p99:F3} ms | calls {calls} | threads {threads} | one input per call, variants in alternating blocks of {BlockCalls}"));
            }

            // The peer is the last variant; FlowOod's fastest variant by p50 against it.
            var fastest = Enumerable.Range(0, variants.Count - 1).MinBy(v => percentiles[v].P50);
            var peer = percentiles[^1];
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"latency {model} summary: ONNX Runtime / FlowOod ({variants[fastest].Name}) p50 {peer.P50 / percentiles[fastest].P50:F2}x | p99 {peer.P99 / percentiles[fastest].P99:F2}x | above 1 FlowOod is faster"));
        }
        finally
        {
            scorers.ForEach(s => s.Dispose());
        }
    }

    /// <summary>p50 and p99 in ms of <paramref name="calls"/> timed calls of <paramref name="call"/>, after 10 untimed ones.</summary>
    public static (double P50, double P99) TimeCalls(Action call, int calls)
    {
        for (int i = 0; i < 10; i++)
        {
            call();
        }

        var times = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            call();
            times[i] = clock.Elapsed.TotalMilliseconds;
        }

        return Percentiles(times);
    }

    /// <summary>p50 and p99 (nearest rank below and above) of <paramref name="times"/>.</summary>
    public static (double P50, double P99) Percentiles(double[] times)
    {
        var sorted = times.Order().ToArray();
        return (sorted[(int)Math.Floor(0.5 * (sorted.Length - 1))], sorted[(int)Math.Ceiling(0.99 * (sorted.Length - 1))]);
    }
}
