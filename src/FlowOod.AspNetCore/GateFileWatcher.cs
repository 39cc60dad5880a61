using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>
/// Notices a new gate file and reloads it off the request path: a <see cref="FileSystemWatcher"/> on the file's folder
/// wakes a background loop, which also wakes every check interval and compares the file's length and time stamp with
/// the version last tried (the fallback for lost or unsupported change events). Events are debounced briefly, so one
/// rename (or a burst of writes) gives one reload.
/// </summary>
internal sealed class GateFileWatcher : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);
    private readonly GateHost host;
    private readonly TimeSpan interval;
    private readonly ILogger logger;
    private readonly SemaphoreSlim signal = new(0, 1);
    private readonly CancellationTokenSource stop = new();
    private FileSystemWatcher? watcher;
    private Task? loop;

    public GateFileWatcher(GateHost host, TimeSpan interval, ILogger logger)
    {
        this.host = host;
        this.interval = interval;
        this.logger = logger;
    }

    public void Start()
    {
        var full = Path.GetFullPath(host.Path);
        try
        {
            watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Created += (_, _) => Wake();
            watcher.Changed += (_, _) => Wake();
            watcher.Renamed += (_, _) => Wake();
            watcher.Error += (_, e) => Log.WatcherFailed(logger, e.GetException(), host.Path);
            watcher.EnableRaisingEvents = true;
        }
#pragma warning disable CA1031 // no watcher (inotify limits, missing folder, ...): the periodic check still reloads
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.WatcherFailed(logger, e, host.Path);
            watcher?.Dispose();
            watcher = null;
        }

        loop = Task.Run(() => RunAsync(stop.Token));
    }

    public void Dispose()
    {
        watcher?.Dispose();
        stop.Cancel();
        try
        {
            loop?.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }

        stop.Dispose();
        signal.Dispose();
    }

    private void Wake()
    {
        try
        {
            if (signal.CurrentCount == 0)
            {
                signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (await signal.WaitAsync(interval, cancellationToken).ConfigureAwait(false))
                {
                    await Task.Delay(Debounce, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            host.TryReload();
        }
    }
}
