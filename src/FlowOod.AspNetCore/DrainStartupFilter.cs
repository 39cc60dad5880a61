using System;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace FlowOod.AspNetCore;

/// <summary>
/// Puts the drain's middleware first in the pipeline: while the <see cref="ConnectionDrain"/> runs, every HTTP/1.x answer
/// (also of requests that began before it) carries <c>Connection: close</c>, so Kestrel closes each keep-alive connection
/// right after answering its last request and the client opens its next request on a new connection (refused, since
/// the listener is closed) instead of writing it on a connection about to be closed.
/// </summary>
internal sealed class DrainStartupFilter(ConnectionDrain drain) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextStep) =>
        {
            var protocol = context.Request.Protocol;
            if (HttpProtocol.IsHttp11(protocol) || HttpProtocol.IsHttp10(protocol))
            {
                context.Response.OnStarting(CloseWhenDraining, (context.Response, drain));
            }

            return nextStep(context);
        });
        next(app);
    };

    private static Task CloseWhenDraining(object state)
    {
        var (response, drain) = ((HttpResponse, ConnectionDrain))state;
        if (drain.IsDraining)
        {
            response.Headers.Connection = "close";
        }

        return Task.CompletedTask;
    }
}
