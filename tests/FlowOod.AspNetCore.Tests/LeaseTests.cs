using System;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class LeaseTests
{
    [Fact]
    public void Retire_WithoutLeases_DisposesAtOnceAndOnlyOnce()
    {
        var model = new FakeModel();
        var holder = new RefCounted<FakeModel>(model);
        holder.Retire();
        holder.Retire();
        model.DisposeCount.Should().Be(1);
        holder.TryAcquire().Should().BeNull();
    }

    [Fact]
    public void Retire_WithLeases_DisposesAfterTheLastRelease()
    {
        var model = new FakeModel();
        var holder = new RefCounted<FakeModel>(model);
        var first = holder.TryAcquire()!;
        var second = holder.TryAcquire()!;
        holder.Retire();
        first.Dispose();
        first.Dispose();                      // a second release of the same lease does nothing
        model.DisposeCount.Should().Be(0);
        holder.Count.Should().Be(1);
        second.Dispose();
        model.DisposeCount.Should().Be(1);
        holder.TryAcquire().Should().BeNull();
    }

    [Fact]
    public async Task Leases_UnderContention_NeverSeeADisposedValue_AndDisposeOnce()
    {
        for (int round = 0; round < 50; round++)
        {
            var model = new FakeModel();
            var holder = new RefCounted<FakeModel>(model);
            using var start = new ManualResetEventSlim();
            var workers = new Task[4];
            for (int w = 0; w < workers.Length; w++)
            {
                workers[w] = Task.Run(() =>
                {
                    start.Wait();
                    for (int i = 0; i < 2000; i++)
                    {
                        using var lease = holder.TryAcquire();
                        if (lease is null)
                        {
                            return;
                        }

                        lease.Value.DisposeCount.Should().Be(0);
                    }
                });
            }

            start.Set();
            holder.Retire();
            await Task.WhenAll(workers);
            model.DisposeCount.Should().Be(1);
            holder.Count.Should().Be(0);
        }
    }
}
