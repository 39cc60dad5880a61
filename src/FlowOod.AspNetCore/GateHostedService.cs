using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;

namespace FlowOod.AspNetCore;

/// <summary>Starts the gate service with the host (loads the gate: a bad file fails the start) and stops it with the host.</summary>
internal sealed class GateHostedService(GateRuntime runtime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        runtime.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        runtime.Stop();
        return Task.CompletedTask;
    }
}
