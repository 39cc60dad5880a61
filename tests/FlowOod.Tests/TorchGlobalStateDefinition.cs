using System;
using TorchSharp;
using Xunit;

namespace FlowOod.Tests;

// Tests that seed torch's global generator (torch.random.manual_seed) or change other process-wide torch state run in
// this collection, one at a time and never alongside another collection.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateDefinition : ICollectionFixture<SingleThreadedTorch>
{
    public const string Name = "TorchGlobalState";
}

// The collection's tensors are tiny, so intra-op threads only add synchronisation; on a shared two-core machine
// OpenMP workers waiting on busy cores made single forwards take seconds. Restores the previous setting afterwards.
public sealed class SingleThreadedTorch : IDisposable
{
    private readonly int previous;

    public SingleThreadedTorch()
    {
        FlowOodRuntime.EnsureAvailable();
        previous = torch.get_num_threads();
        torch.set_num_threads(1);
    }

    public void Dispose() => torch.set_num_threads(previous);
}
