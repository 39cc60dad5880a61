using System;
using System.Linq;
using System.Threading;
using FlowOod.Scoring;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Guards;

// The failure ScalarLifetimeTests guards against, provoked: scoring on two threads while a third forces garbage
// collections without pause. Before ScalarMath, TorchSharp's temporary Scalars (Chain's `logDet + stepLogDet`, the
// dequantization's `mul(255.0)`, ...) were finalized during native calls: c10 threw "Expected false to be true" from
// Scalar::toFloat, or libtorch read another value and the score came out wrong without an error.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScalarRaceTests
{
    private const int CallsPerThread = 6000;

    [Fact]
    public void Scoring_WhileTheCollectorRunsWithoutPause_NeverFails_AndGivesTheSerialScores()
    {
        using var scope = NewDisposeScope();
        using var scorer = new NegativeLogLikelihoodScorer(ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 12), ownsFlow: true);
        var batch = ScoringFlows.EightBitImages(2, ScalarType.Float32);
        var expected = scorer.Score(batch);
        var failures = 0;
        var wrong = 0;
        string? firstFailure = null;
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();

        var workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            for (int i = 0; i < CallsPerThread; i++)
            {
                try
                {
                    if (!scorer.Score(batch).SequenceEqual(expected))
                    {
                        Interlocked.Increment(ref wrong);
                    }
                }
                catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or InvalidOperationException)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstFailure, e.Message, null);
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

        failures.Should().Be(0, $"no native call may see a freed Scalar (first failure: {firstFailure})");
        wrong.Should().Be(0, "every call must give the serial scores bit for bit");
    }
}
