using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>
/// Starts the gate service with the host (loads the gate: a bad file fails the start) and stops it with the host. When
/// the host begins to stop it first drains the server's connections (<see cref="ConnectionDrain"/>, before Kestrel's own
/// stop), while the scoring worker still runs, so every request that reached the server is answered.
/// </summary>
internal sealed class GateHostedService(GateRuntime runtime, ConnectionDrain drain) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        runtime.Start();
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var timeout = runtime.Options.ShutdownDrainTimeout;
        if (timeout <= TimeSpan.Zero || drain.ListenerCount == 0)
        {
            return;
        }

        var logger = runtime.LoggerFactory.CreateLogger<GateHostedService>();
        Log.DrainStarted(logger, drain.OpenConnections, timeout.TotalSeconds);
        long started = TimeProvider.System.GetTimestamp();
        int left = await drain.DrainAsync(timeout, cancellationToken).ConfigureAwait(false);
        Log.DrainFinished(logger, TimeProvider.System.GetElapsedTime(started).TotalMilliseconds, left);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        runtime.Stop();
        return Task.CompletedTask;
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
