using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;

namespace FlowOod.AspNetCore;

/// <summary>Kestrel's transport with listeners the <see cref="ConnectionDrain"/> can stop (keeps the inner factory's endpoint selection).</summary>
internal sealed class DrainingListenerFactory(IConnectionListenerFactory inner, ConnectionDrain drain) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var listener = new DrainingListener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), drain);
        drain.Add(listener);
        return listener;
    }
}

/// <summary>A listener that counts its connections and can stop accepting before Kestrel's own stop.</summary>
internal sealed class DrainingListener(IConnectionListener inner, ConnectionDrain drain) : IConnectionListener
{
    private int unbound;

    public EndPoint EndPoint => inner.EndPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
        if (connection is not null)
        {
            drain.Opened(connection);
        }

        return connection;
    }

    /// <summary>Closes the listening socket: a pending accept returns null, new connections are refused.</summary>
    public ValueTask StopAcceptingAsync() => Interlocked.Exchange(ref unbound, 1) == 0 ? inner.UnbindAsync() : default;

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) =>
        Interlocked.Exchange(ref unbound, 1) == 0 ? inner.UnbindAsync(cancellationToken) : default;

    public ValueTask DisposeAsync()
    {
        drain.Remove(this);
        return inner.DisposeAsync();
    }
}
