using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class ReloadTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-reload-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string GatePath => Path.Combine(folder, "gate.txt");

    // Writes the new "gate" beside the target and renames it over the target, as a deployment should.
    private void Replace(string content)
    {
        var temporary = GatePath + ".new";
        File.WriteAllText(temporary, content);
        File.Move(temporary, GatePath, overwrite: true);
        File.SetLastWriteTimeUtc(GatePath, DateTime.UtcNow.AddSeconds(content.Length)); // a distinct stamp even on coarse clocks
    }

    private (GateHost Host, FakeLoader Loader) Load()
    {
        File.WriteAllText(GatePath, "threshold=1");
        var loader = new FakeLoader();
        var host = new GateHost(GatePath, loader, NullLogger.Instance);
        host.LoadInitial();
        return (host, loader);
    }

    [Fact]
    public void TryReload_ChangedFile_SwapsAndDisposesTheOldGateAfterItsLastLease()
    {
        var (host, loader) = Load();
        using (host)
        {
            host.TryReload().Should().BeFalse();                 // unchanged file: nothing to do
            var lease = host.Acquire();
            Replace("threshold=2");
            host.TryReload().Should().BeTrue();
            host.Info!.Threshold.Should().Be(2);
            host.Info.Generation.Should().Be(2);
            loader.Loaded[0].DisposeCount.Should().Be(0);        // a batch still holds it
            lease.Value.Threshold.Should().Be(1);
            lease.Dispose();
            loader.Loaded[0].DisposeCount.Should().Be(1);
            using (var next = host.Acquire())
            {
                next.Value.Should().BeSameAs(loader.Loaded[1]);
            }
        }

        loader.Loaded[1].DisposeCount.Should().Be(1);
        loader.Loaded.Sum(m => m.UsedAfterDispose).Should().Be(0);
    }

    [Theory]
    [InlineData("garbage", "not a fake gate")]
    [InlineData("threshold=3;shape=1,4,4", "keep the input shape")]
    public void TryReload_BadFile_KeepsServingTheOldGate(string content, string error)
    {
        var (host, loader) = Load();
        using (host)
        {
            Replace(content);
            host.TryReload().Should().BeFalse();
            host.Info!.Generation.Should().Be(1);
            host.LastReloadError.Should().Contain(error);
            host.TryReload().Should().BeFalse();                 // the same bad version is not retried
            loader.Loaded[0].DisposeCount.Should().Be(0);
            Replace("threshold=4");
            host.TryReload().Should().BeTrue();
            host.LastReloadError.Should().BeNull();
        }
    }

    [Fact]
    public async Task Runtime_FileRenamedOverTheGate_IsPickedUpWhileRequestsRun()
    {
        File.WriteAllText(GatePath, "threshold=1");
        var loader = new FakeLoader();
        var options = new FlowOodGateOptions { GatePath = GatePath, ReloadCheckInterval = TimeSpan.FromMilliseconds(200), MaxBatchSize = 4 };
        using var runtime = new GateRuntime(options, () => loader);
        runtime.Start();
        using var stop = new CancellationTokenSource();
        var thresholds = new System.Collections.Concurrent.ConcurrentBag<double>();
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                var d = await runtime.ClassifyAsync(Inputs.Of(c), CancellationToken.None);
                d.Label.Should().Be(c);
                thresholds.Add(d.Threshold);
                n++;
            }

            return n;
        })).ToArray();
        await Task.Delay(200);
        Replace("threshold=2");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (runtime.Gate.Generation < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        runtime.Gate.Generation.Should().Be(2);
        await Task.Delay(200);
        stop.Cancel();
        (await Task.WhenAll(clients)).Should().OnlyContain(n => n > 0);
        thresholds.Should().Contain(1).And.Contain(2);
        loader.Loaded[0].DisposeCount.Should().Be(1);
        loader.Loaded.Sum(m => m.UsedAfterDispose).Should().Be(0);
    }
}
