using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>What a soak run saw, per thread count.</summary>
/// <param name="Threads">Request threads.</param>
/// <param name="Calls">Calls made.</param>
/// <param name="Exceptions">Calls that threw.</param>
/// <param name="Mismatches">Calls whose answer differed from the serial answer in any bit.</param>
/// <param name="Collections">Garbage collections forced while the calls ran.</param>
/// <param name="LeakedTensors">Live tensors after the phase minus before it.</param>
/// <param name="Seconds">Wall time of the phase.</param>
/// <param name="FirstException">The first exception's type and message, if any.</param>
public sealed record SoakPhase(int Threads, long Calls, long Exceptions, long Mismatches, long Collections, long LeakedTensors, double Seconds, string? FirstException);

/// <summary>
/// The production-correctness soak (<c>./build.sh soak</c>): every scorer kind, a detector and both gate kinds, shared by
/// request threads while another thread forces garbage collections without pause, each answer compared bit for bit with
/// the answer the same request got serially. Any exception, any differing bit or any tensor left alive fails the run.
/// </summary>
/// <remarks>
/// The models are tiny (1×8×8 images, single-scale RealNVPs of width 8, a tabular feature flow, a small CNN classifier) and trained for
/// a few steps, so that a call is short and a run makes many native calls: the failures this guards against (a Scalar
/// freed by the finalizer during a native call, a thread computing with another intra-op thread count) show per native
/// call, not per image. Requests mix targets, bin-centre and seeded noise and batches of 1-16 from a fixed pool.
/// </remarks>
public static class Soak
{
    private static readonly long[] ImageShape = [1, 8, 8];

    /// <summary>Runs the soak: <paramref name="callsPerPhase"/> calls on each thread count, printing one line per phase.</summary>
    /// <param name="callsPerPhase">Calls per thread count.</param>
    /// <param name="threadCounts">Request threads of each phase.</param>
    /// <param name="print">Where the report lines go.</param>
    /// <param name="distinctRequests">Distinct requests (their serial answers are the reference); calls cycle through them.</param>
    /// <param name="collectorPauseMilliseconds">Pause between two forced collections (0: none); each collects generation 0.</param>
    /// <returns>One entry per phase.</returns>
    public static IReadOnlyList<SoakPhase> Run(
        long callsPerPhase, IReadOnlyList<int> threadCounts, Action<string> print, int distinctRequests = 2000, int collectorPauseMilliseconds = 0)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        print($"soak: cpu {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | intra-op threads {get_num_threads()} | {Program.MallocNote}");
        using var targets = new Targets();
        var pool = EightBitImages(400, seed: 5);
        var requests = Requests(targets.Count, distinctRequests, pool.shape[0]);
        var perTarget = new double[targets.Count];
        var serial = requests.Select(r =>
        {
            var started = Stopwatch.GetTimestamp();
            var answer = targets.Answer(r, pool);
            perTarget[r.Target] += Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return answer;
        }).ToArray();
        var callsPerTarget = (double)requests.Length / targets.Count;
        print("soak: serial ms per call: " + string.Join(", ", targets.Names.Select((name, t) => $"{name} {perTarget[t] / callsPerTarget:F2}")));
        print($"soak: {targets.Count} targets ({string.Join(", ", targets.Names)}); {requests.Length} distinct requests of 1-16 images; "
            + $"models built and serial answers taken in {clock.Elapsed.TotalSeconds:F1} s");

        var phases = new List<SoakPhase>();
        foreach (var threads in threadCounts)
        {
            var phase = RunPhase(threads, callsPerPhase, collectorPauseMilliseconds, generation: 0, i => targets.Answer(requests[i % requests.Length], pool), i => serial[i % serial.Length]);
            phases.Add(phase);
            print($"soak threads {phase.Threads}: {phase.Calls} calls, {phase.Exceptions} exceptions, {phase.Mismatches} mismatches, "
                + $"{phase.LeakedTensors} tensors leaked, {phase.Collections} forced collections, {phase.Seconds:F1} s ({phase.Calls / phase.Seconds:F0} calls/s)"
                + (phase.FirstException is { } first ? $"; first exception: {first}" : ""));
        }

        var calls = phases.Sum(p => p.Calls);
        var failed = phases.Any(p => p.Exceptions + p.Mismatches + p.LeakedTensors != 0);
        print($"soak: {(failed ? "FAIL" : "PASS")}: {phases.Sum(p => p.Exceptions)} exceptions, {phases.Sum(p => p.Mismatches)} mismatches "
            + $"in {calls} calls; {clock.Elapsed.TotalMinutes:F1} min in all");
        return phases;
    }

    /// <summary>
    /// Makes <paramref name="calls"/> calls <c>answer(i)</c> on <paramref name="threads"/> new threads (thread t takes i = t,
    /// t + threads, ...) while another thread forces garbage collections, and compares each answer with
    /// <c>expected(i)</c> bit for bit.
    /// </summary>
    /// <param name="threads">Request threads.</param>
    /// <param name="calls">Calls in all.</param>
    /// <param name="collectorPauseMilliseconds">Pause between two forced collections (0: none).</param>
    /// <param name="generation">The generation each forced collection collects: 0 (cheap; the temporaries a native call
    /// receives are young) or <see cref="GC.MaxGeneration"/> (every collection full).</param>
    /// <param name="answer">The call under test.</param>
    /// <param name="expected">The answer call i must give.</param>
    /// <returns>What the phase saw.</returns>
    public static SoakPhase RunPhase(
        int threads, long calls, int collectorPauseMilliseconds, int generation, Func<long, double[]> answer, Func<long, double[]> expected)
    {
        long exceptions = 0, mismatches = 0, collections = 0;
        string? first = null;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var liveBefore = torch.Tensor.TotalCount;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            // A collection every few milliseconds: each one finalizes whatever temporaries are unreachable at that moment, so
            // a Scalar in flight in a native call would be freed; the pause lets the request threads make progress.
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(generation, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
                Thread.Sleep(collectorPauseMilliseconds);
            }
        });
        collector.Start();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (long i = t; i < calls; i += threads)
            {
                try
                {
                    if (!answer(i).SequenceEqual(expected(i)))
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }
#pragma warning disable CA1031 // The soak counts every exception a call throws; none may escape the worker thread.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Interlocked.Increment(ref exceptions);
                    Interlocked.CompareExchange(ref first, $"{e.GetType().Name}: {e.Message}", null);
                }
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        stop.Cancel();
        collector.Join();
        var seconds = clock.Elapsed.TotalSeconds;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return new SoakPhase(threads, calls, exceptions, mismatches, collections, torch.Tensor.TotalCount - liveBefore, seconds, first);
    }

    private static (int Target, long Start, long Length)[] Requests(int targets, int count, long pool)
    {
        var random = new Random(2026);
        return Enumerable.Range(0, count).Select(i =>
        {
            var length = random.Next(4) == 0 ? 1 : random.Next(2, 17);
            return (i % targets, random.NextInt64(pool - length + 1), (long)length);
        }).ToArray();
    }

    private static Tensor EightBitImages(long n, ulong seed)
    {
        using var generator = new Generator(seed);
        using var levels = 255.0.ToScalar();
        return randint(0, 256, [n, .. ImageShape], dtype: ScalarType.Float32, generator: generator).div_(levels);
    }

    /// <summary>The shared objects under test, each answering a request as a flat array of doubles.</summary>
    private sealed class Targets : IDisposable
    {
        private readonly List<(string Name, Func<Tensor, double[]> Answer)> targets = [];
        private readonly List<IDisposable> owned = [];

        public Targets()
        {
            var training = EightBitImages(256, seed: 1);
            var heldOut = EightBitImages(64, seed: 2);
            var flow = TrainedFlow(training, seed: 11);
            owned.Add(flow);
            var other = TrainedFlow(training, seed: 12);
            owned.Add(other);
            foreach (var noise in new[] { ScoringNoise.BinCentres, ScoringNoise.Seeded(17) })
            {
                var label = noise.Kind.ToString();
                Add($"nll/{label}", new NegativeLogLikelihoodScorer(flow, chunkSize: 16, noise: noise));
                Add($"llr/{label}", new LikelihoodRatioScorer(flow, other, chunkSize: 16, noise: noise));
                Add($"complexity/{label}", new InputComplexityScorer(flow, chunkSize: 16, noise: noise));
                Add($"typicality/{label}", TypicalityScorer.Fit(flow, heldOut, chunkSize: 16, noise));
                Add($"dose/{label}", DoseScorer.Fit(flow, heldOut, chunkSize: 16, noise));
                Add($"waic/{label}", new WaicScorer([flow, other], chunkSize: 16, noise: noise));
                Add($"stirring/{label}", StirringScorer.Fit(flow, heldOut, chunkSize: 16, noise: noise));
                Add($"score-density/{label}", ScoreDensityScorer.Fit(
                    [new NegativeLogLikelihoodScorer(flow, chunkSize: 16, noise: noise), new LikelihoodRatioScorer(flow, other, chunkSize: 16, noise: noise)], heldOut, ownsMembers: true));
                Add($"two-sided-llr/{label}", TwoSidedScorer.Fit(new LikelihoodRatioScorer(flow, other, chunkSize: 16, noise: noise), heldOut, ownsInner: true));
            }

            Add("rotation-prediction", RotationPredictionScorer.Train(training, new RotationPredictionOptions { Width = 4, Hidden = 16, Steps = 20, BatchSize = 32, Seed = 13 }, chunkSize: 16));

            Add("feature-space", FeatureSpaceScorer.Fit(
                x => x.flatten(1).narrow(1, 20, 8),
                heldOut,
                new FeatureSpaceFitOptions
                {
                    Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                    Training = new TrainingOptions { Steps = 20, BatchSize = 16, Seed = 3 },
                }));

            var detector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(flow), heldOut, 0.1, ownsScorer: true);
            owned.Add(detector);
            targets.Add(("detector", batch => detector.Predict(batch).SelectMany(p => new[] { p.Score, p.PValue, p.IsOutOfDistribution ? 1 : 0 }).ToArray()));

            var classifier = Classifier();
            owned.Add(classifier);
            var layerGate = OodGate.Fit(classifier, training, new OodGateOptions
            {
                FeatureLayer = "fc1",
                TargetFalsePositiveRate = 0.1,
                CalibrationFraction = 0.5,
                FeatureFlow = new FeatureSpaceFitOptions
                {
                    Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 16 },
                    Training = new TrainingOptions { Steps = 20, BatchSize = 32, Seed = 4 },
                },
                Seed = 7,
            });
            AddGate("layer-gate", layerGate);
            var inputDetector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(other), heldOut, 0.1, ownsScorer: true);
            AddGate("input-gate", OodGate.Create(classifier, inputDetector, ImageShape, ownsDetector: true));
        }

        public int Count => targets.Count;

        public IEnumerable<string> Names => targets.Select(t => t.Name);

        public double[] Answer((int Target, long Start, long Length) request, Tensor pool)
        {
            using var scope = NewDisposeScope();
            return targets[request.Target].Answer(pool.narrow(0, request.Start, request.Length));
        }

        public void Dispose()
        {
            foreach (var item in Enumerable.Reverse(owned))
            {
                item.Dispose();
            }
        }

        private void Add(string name, IOodScorer scorer)
        {
            owned.Add(scorer);
            targets.Add((name, scorer.Score));
        }

        private void AddGate(string name, OodGate gate)
        {
            owned.Add(gate);
            targets.Add((name, batch => gate.Classify(batch).SelectMany(d =>
                new[] { d.Label, d.Score, d.PValue, d.IsOutOfDistribution ? 1 : 0 }.Concat(d.Probabilities.Select(p => (double)p))).ToArray()));
        }

        private static NormalizingFlow TrainedFlow(Tensor training, long seed)
        {
            var flow = RealNvp.Create(ImageShape, new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 });
            new FlowTrainer(flow, new TrainingOptions { Steps = 20, BatchSize = 32, Seed = seed }).Train(training);
            flow.eval();
            return flow;
        }

        // conv(1→4) → relu → pool → conv(4→8) → relu → flatten → fc1 [N, 16] → relu → fc2 [N, 3], in eval() mode.
        private static nn.Module<Tensor, Tensor> Classifier()
        {
            var net = nn.Sequential(
                ("conv1", nn.Conv2d(1, 4, 3, padding: 1)),
                ("relu1", nn.ReLU()),
                ("pool", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(4, 8, 3, padding: 1)),
                ("relu2", nn.ReLU()),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(8 * 4 * 4, 16)),
                ("relu3", nn.ReLU()),
                ("fc2", nn.Linear(16, 3)));
            net.eval();
            return net;
        }
    }
}
