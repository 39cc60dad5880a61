using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Layers;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Layers;

// HostHelper: the second thread one caller at a time shares its managed convolutions with. A split gives the caller's
// bits alone; one caller holds it at a time; many callers at once all get the right result (whoever has no lease
// computes alone); the helper does claim chunks.
[Collection(TorchGlobalStateDefinition.Name)] // UseSingleImageHelperThread is process-wide.
public sealed class HostHelperTests
{
    [Fact]
    public void UseSingleImageHelperThread_IsOffByDefault_AndTurnsTheSplitOnAndOff()
    {
        FlowOodRuntime.SingleImageHelperThread.Should().BeFalse("one image is computed on the calling thread unless the application opts in");
        try
        {
            FlowOodRuntime.UseSingleImageHelperThread();
            FlowOodRuntime.SingleImageHelperThread.Should().BeTrue();
            FlowOodRuntime.UseSingleImageHelperThread(false);
            FlowOodRuntime.SingleImageHelperThread.Should().BeFalse();
        }
        finally
        {
            FlowOodRuntime.UseSingleImageHelperThread(false);
        }
    }

    [Fact]
    public void Shared_ExistsExactlyOnMachinesWithMoreThanOneProcessor() =>
        (HostHelper.Shared is not null).Should().Be(Environment.ProcessorCount > 1);

    [Fact]
    public void Lease_IsHeldByOneCallerAtATime_AndFreedByDispose()
    {
        if (HostHelper.Shared is not { } helper)
        {
            return; // One processor: no helper (the test above checks that).
        }

        var first = Acquire(helper);
        using (first)
        {
            first.Helper.Should().BeSameAs(helper);
            using var second = helper.TryAcquire();
            second.Helper.Should().BeNull("another caller holds the helper");
        }

        using var again = Acquire(helper);
        again.Helper.Should().BeSameAs(helper, "the first lease was disposed");
    }

    [Fact]
    public void HeldHelper_ComputesChunks()
    {
        if (HostHelper.Shared is not { } helper)
        {
            return;
        }

        var conv = new HostConv(new float[32 * 32 * 9], ReadOnlySpan<float>.Empty, 32, 32, 3);
        var input = new HostImage(32, 28, 28);
        var output = new HostImage(32, 28, 28);
        using var lease = Acquire(helper);
        long before = helper.ChunksComputed;
        for (int call = 0; call < 5000 && helper.ChunksComputed == before; call++)
        {
            conv.Run(input, output, accumulate: false, lease);
        }

        helper.ChunksComputed.Should().BeGreaterThan(before, "a held helper spins and claims chunks of a split (5,000 calls)");
    }

    [Theory]
    [InlineData(32, 32, 3, 28, 28)]
    [InlineData(64, 64, 3, 14, 14)]
    [InlineData(5, 20, 3, 7, 9)]
    [InlineData(64, 4, 1, 1, 1)]
    public void SplitConvolution_GivesTheCallersOwnBits(int inChannels, int outChannels, int kernelSize, int height, int width)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(31);
        var conv = new HostConv(
            HostConvTests.Values(randn([outChannels, inChannels, kernelSize, kernelSize], generator: generator)), HostConvTests.Values(randn([outChannels], generator: generator)),
            inChannels, outChannels, kernelSize);
        var input = new HostImage(inChannels, height, width);
        input.CopyFrom(randn([1, inChannels, height, width], generator: generator));
        var alone = new HostImage(conv.PaddedOutChannels, height, width);
        var split = new HostImage(conv.PaddedOutChannels, height, width);
        conv.Run(input, alone, accumulate: false, workers: 1);

        using (var lease = HostHelper.Shared is { } helper ? Acquire(helper) : default)
        {
            for (int call = 0; call < 50; call++)
            {
                Array.Fill(split.Data, float.NaN);
                conv.Run(input, split, accumulate: false, lease);
                split.ToTensor(outChannels).allclose(alone.ToTensor(outChannels), rtol: 0, atol: 0).Should().BeTrue("call {0}: each pixel is computed by one thread in the same order", call);
            }
        }
    }

    [Fact]
    public void Split_RunsEveryUnitOnce_TheCallerFromTheFirstAndTheHelperFromTheLast()
    {
        if (HostHelper.Shared is not { } helper)
        {
            return;
        }

        using var lease = Acquire(helper);
        int caller = Environment.CurrentManagedThreadId;
        bool shared = false;
        for (int call = 0; call < 2000 && !shared; call++)
        {
            var owners = new int[100];
            helper.Split(3, 103, 7, (first, end) =>
            {
                ((first - 3) % 7).Should().Be(0, "chunks are whole blocks from the first unit");
                for (int unit = first; unit < end; unit++)
                {
                    Interlocked.Exchange(ref owners[unit - 3], Environment.CurrentManagedThreadId).Should().Be(0, "unit {0} runs once", unit);
                }
            });

            owners.Should().NotContain(0, "every unit runs");
            var byHelper = Enumerable.Range(0, 100).Where(u => owners[u] != caller).ToArray();
            if (byHelper.Length > 0)
            {
                shared = true;
                byHelper.Min().Should().BeGreaterThan(Enumerable.Range(0, 100).Where(u => owners[u] == caller).DefaultIfEmpty(-1).Max(),
                    "the helper claims chunks from the last, the caller from the first, so each keeps to its end of an image");
            }
        }

        shared.Should().BeTrue("a held helper claims chunks (2,000 calls)");
    }

    [Fact]
    public void Split_RethrowsAChunksFailure_AfterEveryChunkIsDone()
    {
        var lease = HostHelper.Shared is { } helper ? Acquire(helper) : default;
        using (lease)
        {
            if (lease.Helper is null)
            {
                return;
            }

            int done = 0;
            FluentActions.Invoking(() => lease.Helper.Split(0, 64, 8, (first, end) =>
            {
                Interlocked.Add(ref done, end - first);
                if (first == 0)
                {
                    throw new ArithmeticException("chunk 0");
                }
            })).Should().Throw<InvalidOperationException>().WithInnerException<ArithmeticException>().WithMessage("chunk 0");
            done.Should().Be(64, "the other chunks still ran before the failure was rethrown");
        }
    }

    [Fact]
    public void ManyCallersAtOnce_EachGetsItsOwnResult()
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(32);
        var conv = new HostConv(HostConvTests.Values(randn([32, 32, 3, 3], generator: generator).TimesInPlace(0.1)), HostConvTests.Values(randn([32], generator: generator)), 32, 32, 3);
        var inputs = Enumerable.Range(0, 4).Select(_ =>
        {
            var image = new HostImage(32, 12, 12);
            image.CopyFrom(randn([1, 32, 12, 12], generator: generator));
            return image;
        }).ToArray();
        var expected = inputs.Select(input =>
        {
            var output = new HostImage(32, 12, 12);
            conv.Run(input, output, accumulate: false, workers: 1);
            return output.Data.ToArray();
        }).ToArray();

        var failures = new int[inputs.Length];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = inputs.Length }, k =>
        {
            var output = new HostImage(32, 12, 12);
            for (int call = 0; call < 300; call++)
            {
                using var lease = HostHelper.Shared?.TryAcquire() ?? default;
                Array.Fill(output.Data, float.NaN);
                conv.Run(inputs[k], output, accumulate: false, lease);
                if (!Interior(output.Data, output).SequenceEqual(Interior(expected[k], output)))
                {
                    Interlocked.Increment(ref failures[k]);
                }
            }
        });

        failures.Should().OnlyContain(f => f == 0);
    }

    private static HostHelper.Lease Acquire(HostHelper helper)
    {
        HostHelper.Lease lease = default;
        SpinWait.SpinUntil(() => (lease = helper.TryAcquire()).Helper is not null, TimeSpan.FromSeconds(30))
            .Should().BeTrue("other tests hold the helper for one st-network at a time");
        return lease;
    }

    private static float[] Interior(float[] data, HostImage layout) =>
        Enumerable.Range(0, layout.Height).SelectMany(y => data.Skip(layout.Offset(y, 0)).Take(layout.Width * layout.Channels)).ToArray();
}
