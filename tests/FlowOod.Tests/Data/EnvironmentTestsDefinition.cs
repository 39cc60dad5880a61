using Xunit;

namespace FlowOod.Tests.Data;

// Tests that set or read process-wide environment variables run in this collection, one at a time.
[CollectionDefinition("Environment", DisableParallelization = true)]
public sealed class EnvironmentTestsDefinition
{
    public const string Name = "Environment";
}
