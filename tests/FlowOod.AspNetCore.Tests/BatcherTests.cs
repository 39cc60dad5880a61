using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class BatcherTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-batcher-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private (MicroBatcher Batcher, FakeModel Model, GateHost Host) Create(int maxBatch = 8, int queue = 64, double delayMs = 2)
    {
        var path = Path.Combine(folder, "gate.txt");
        File.WriteAllText(path, "threshold=1");
        var loader = new FakeLoader();
        var host = new GateHost(path, loader, NullLogger.Instance);
        host.LoadInitial();
        var batcher = new MicroBatcher(host, new BatcherSettings(maxBatch, TimeSpan.FromMilliseconds(delayMs), queue), NullLogger.Instance);
        batcher.Start();
        return (batcher, loader.Loaded[0], host);
    }

    [Fact]
    public async Task Enqueue_ManyConcurrentRequests_EachGetsItsOwnAnswerInMicroBatches()
    {
        var (batcher, model, host) = Create(maxBatch: 8, queue: 256);
        using (host)
        using (batcher)
        {
            model.Release.Reset();                             // hold the first batch so the queue fills behind it
            var tasks = Enumerable.Range(0, 200).Select(i => batcher.EnqueueAsync(Inputs.Of(i % 256, ood: i % 3 == 0), CancellationToken.None)).ToArray();
            model.Release.Set();
            var decisions = await Task.WhenAll(tasks);
            decisions.Select(d => d.Label).Should().Equal(Enumerable.Range(0, 200).Select(i => i % 256));
            decisions.Select(d => d.IsOutOfDistribution).Should().Equal(Enumerable.Range(0, 200).Select(i => i % 3 == 0));
            model.BatchSizes.Should().OnlyContain(n => n >= 1 && n <= 8);
            model.BatchSizes.Sum().Should().Be(200);
            model.BatchSizes.Max().Should().Be(8);
            model.Seen.Should().Equal(Enumerable.Range(0, 200).Select(i => i % 256)); // first in, first scored
        }
    }

    [Fact]
    public async Task Enqueue_CancelledWhileQueued_CompletesCancelledAndIsNeverScored()
    {
        var (batcher, model, host) = Create(maxBatch: 1);
        using (host)
        using (batcher)
        {
            model.Release.Reset();
            var first = batcher.EnqueueAsync(Inputs.Of(1), CancellationToken.None);
            model.Entered.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();
            using var cts = new CancellationTokenSource();
            var second = batcher.EnqueueAsync(Inputs.Of(2), cts.Token);
            var third = batcher.EnqueueAsync(Inputs.Of(3), CancellationToken.None);
            cts.Cancel();
            await FluentActions.Awaiting(() => second).Should().ThrowAsync<OperationCanceledException>();
            model.Release.Set();
            (await first).Label.Should().Be(1);
            (await third).Label.Should().Be(3);
            model.Seen.Should().Equal(1, 3);
            batcher.EnqueueAsync(Inputs.Of(4), new CancellationToken(canceled: true)).IsCanceled.Should().BeTrue();
        }
    }

    [Fact]
    public async Task Enqueue_QueueFull_IsRefusedAtOnce()
    {
        var (batcher, model, host) = Create(maxBatch: 1, queue: 4);
        using (host)
        using (batcher)
        {
            model.Release.Reset();
            var running = batcher.EnqueueAsync(Inputs.Of(0), CancellationToken.None);
            model.Entered.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();
            var queued = Enumerable.Range(1, 4).Select(i => batcher.EnqueueAsync(Inputs.Of(i), CancellationToken.None)).ToArray();
            batcher.QueueLength.Should().Be(4);
            FluentActions.Invoking(() => { _ = batcher.EnqueueAsync(Inputs.Of(9), CancellationToken.None); }).Should().Throw<GateOverloadedException>()
                .WithMessage("*queue is full (4 requests waiting)*");
            model.Release.Set();
            await running;
            (await Task.WhenAll(queued)).Select(d => d.Label).Should().Equal(1, 2, 3, 4);
        }
    }

    [Fact]
    public async Task Score_FailingBatch_FailsOnlyTheBadRequest()
    {
        var (batcher, model, host) = Create(maxBatch: 8);
        using (host)
        using (batcher)
        {
            model.FailOn = id => id == 13;
            model.Release.Reset();
            var tasks = Enumerable.Range(10, 6).Select(i => batcher.EnqueueAsync(Inputs.Of(i), CancellationToken.None)).ToArray();
            model.Release.Set();
            await FluentActions.Awaiting(() => tasks[3]).Should().ThrowAsync<InvalidOperationException>().WithMessage("fake failure on 13");
            foreach (var t in tasks.Where((_, i) => i != 3))
            {
                (await t).Label.Should().BeInRange(10, 15);
            }
        }
    }

    [Fact]
    public async Task Stop_FailsWhatIsStillQueued_AndRefusesNewRequests()
    {
        var (batcher, model, host) = Create(maxBatch: 1);
        using (host)
        {
            model.Release.Reset();
            var running = batcher.EnqueueAsync(Inputs.Of(1), CancellationToken.None);
            model.Entered.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();
            var queued = batcher.EnqueueAsync(Inputs.Of(2), CancellationToken.None);
            var stopping = Task.Run(batcher.Stop);
            await Task.Delay(50);
            model.Release.Set();
            await stopping;
            (await running).Label.Should().Be(1);
            await FluentActions.Awaiting(() => queued).Should().ThrowAsync<InvalidOperationException>().WithMessage("*stopped*");
            FluentActions.Invoking(() => { _ = batcher.EnqueueAsync(Inputs.Of(3), CancellationToken.None); }).Should().Throw<InvalidOperationException>();
        }
    }
}
