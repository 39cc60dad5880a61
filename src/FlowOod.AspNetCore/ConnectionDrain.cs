using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace FlowOod.AspNetCore;

/// <summary>
/// The server's connections as the shutdown drain sees them: the listening sockets (through
/// <see cref="DrainingListenerFactory"/>) and the number of accepted connections not yet closed.
/// </summary>
/// <remarks>
/// Kestrel's own stop closes every idle keep-alive connection at once, so a request a client writes on one a few
/// milliseconds later meets a closed connection and gets no answer. The drain instead closes the listening sockets
/// first (new connections are refused: nothing was sent on them), keeps serving the open connections with
/// <c>Connection: close</c> on every answer (<see cref="DrainStartupFilter"/>), and lets the host's stop go on when the last
/// connection has closed or the drain time is up.
/// </remarks>
internal sealed class ConnectionDrain
{
    private readonly Lock sync = new();
    private readonly List<DrainingListener> listeners = [];
    private readonly TaskCompletionSource idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int open;
    private int draining;

    /// <summary>True from the start of <see cref="DrainAsync"/>: answers carry <c>Connection: close</c>.</summary>
    public bool IsDraining => Volatile.Read(ref draining) != 0;

    /// <summary>Accepted connections not yet closed.</summary>
    public int OpenConnections => Volatile.Read(ref open);

    /// <summary>Listening sockets seen (the drain works only when Kestrel binds through the decorated factory).</summary>
    public int ListenerCount
    {
        get
        {
            lock (sync)
            {
                return listeners.Count;
            }
        }
    }

    /// <summary>
    /// Decorates every <see cref="IConnectionListenerFactory"/> registered so far (Kestrel's socket transport) so that
    /// its listeners report to the drain. Factories registered later are not decorated.
    /// </summary>
    public static void DecorateTransports(IServiceCollection services)
    {
        for (int i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType != typeof(IConnectionListenerFactory) || descriptor.IsKeyedService)
            {
                continue;
            }

            services[i] = new ServiceDescriptor(
                typeof(IConnectionListenerFactory),
                provider => new DrainingListenerFactory(Create(provider, descriptor), provider.GetRequiredService<ConnectionDrain>()),
                descriptor.Lifetime);
        }
    }

    /// <summary>
    /// Stops accepting (closes every listening socket), marks the drain (answers carry <c>Connection: close</c>) and
    /// waits until every accepted connection has closed, <paramref name="timeout"/> has passed or
    /// <paramref name="cancellationToken"/> fires (the host's shutdown time is up).
    /// </summary>
    /// <returns>The connections still open when the wait ended (Kestrel's stop closes them).</returns>
    public async Task<int> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        DrainingListener[] stopping;
        lock (sync)
        {
            stopping = [.. listeners];
        }

        // Close the listeners before the first Connection: close goes out: a client told to close reconnects at once,
        // and a connection still waiting in a listener's backlog would be reset when the listener closes.
        foreach (var listener in stopping)
        {
            await listener.StopAcceptingAsync().ConfigureAwait(false);
        }

        lock (sync)
        {
            Volatile.Write(ref draining, 1);
            if (Volatile.Read(ref open) == 0)
            {
                idle.TrySetResult();
            }
        }

        try
        {
            await idle.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Clients that keep a connection open without sending anything: Kestrel's stop closes them.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown time is up.
        }

        return Volatile.Read(ref open);
    }

    internal void Add(DrainingListener listener)
    {
        lock (sync)
        {
            listeners.Add(listener);
        }
    }

    internal void Remove(DrainingListener listener)
    {
        lock (sync)
        {
            listeners.Remove(listener);
        }
    }

    internal void Opened(ConnectionContext connection)
    {
        Interlocked.Increment(ref open);
        connection.ConnectionClosed.UnsafeRegister(static state => ((ConnectionDrain)state!).Closed(), this);
    }

    private void Closed()
    {
        if (Interlocked.Decrement(ref open) == 0 && IsDraining)
        {
            lock (sync)
            {
                idle.TrySetResult();
            }
        }
    }

    private static IConnectionListenerFactory Create(IServiceProvider provider, ServiceDescriptor descriptor) =>
        (IConnectionListenerFactory)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(provider)
            ?? ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!));
}
