using Xunit;

namespace FlowOod.Tests;

// Tests that seed TorchSharp's global generator or change its thread count run one at a time.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateDefinition
{
    public const string Name = "TorchGlobalState";
}
