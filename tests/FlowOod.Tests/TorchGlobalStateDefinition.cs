using System.Runtime.CompilerServices;
using TorchSharp;
using Xunit;

namespace FlowOod.Tests;

// Tests that seed torch's global generator (torch.random.manual_seed), force garbage collections without pause, or read
// the process's memory run in this collection, one at a time and never alongside another collection.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateDefinition
{
    public const string Name = "TorchGlobalState";
}

// The test process sets torch's intra-op thread count once, before any test runs, and nothing changes it afterwards:
// libtorch applies the count to each OS thread at that thread's first use (FlowOod's IntraOpThreads), so a count changed
// mid-run leaves older threads on the old count and newer ones on the new, and reductions then differ in their last bits
// between threads (ConcurrentScoringTests, AnalysisConcurrencyTests and ParallelTrainingTests failed that way). One thread:
// the tensors here are tiny and test classes already run in parallel on the two cores.
internal static class TestProcessThreads
{
    public const int IntraOp = 1;

#pragma warning disable CA2255 // A module initializer is the one place that runs before every test of this executable.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void SetOnce()
    {
        FlowOodRuntime.DisableNnpack();
        torch.set_num_threads(IntraOp);
    }
}
