using System;
using System.Threading;
using FlowOod.Models;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Runtime;

// A new OS thread gets OpenMP's default team size (the number of cores) until libtorch initialises it lazily; FlowOod's
// entry points apply the process-wide intra-op count first, so every thread computes with the same count.
public sealed class IntraOpThreadsTests
{
    [Fact]
    public void ANewThread_ValidatingABatch_TakesTheProcessWideCount()
    {
        using var flow = RealNvp.Create(ScoringFlows.ImageShape, new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
        using var batch = ones(2, 1, 8, 8).DivideInPlace(2);

        var (before, after) = OnNewThread(() =>
        {
            var first = OpenMp.MaxThreads();
            flow.ValidateInput(batch);
            return (first, OpenMp.MaxThreads());
        });

        after.Should().Be(TestProcessThreads.IntraOp, $"the thread uses the process's setting from its first FlowOod call (OpenMP's default here: {before})");
    }

    [Fact]
    public void Adopt_OnANewThread_AppliesTheCount_AndIsIdempotent()
    {
        var counts = OnNewThread(() =>
        {
            IntraOpThreads.Adopt();
            var first = OpenMp.MaxThreads();
            IntraOpThreads.Adopt();
            return (first, OpenMp.MaxThreads());
        });

        counts.Should().Be((TestProcessThreads.IntraOp, TestProcessThreads.IntraOp));
    }

    private static T OnNewThread<T>(Func<T> work)
    {
        T result = default!;
        var thread = new Thread(() => result = work());
        thread.Start();
        thread.Join();
        return result;
    }
}
