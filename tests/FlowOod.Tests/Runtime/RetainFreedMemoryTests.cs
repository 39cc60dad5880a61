using System;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Runtime;

// Only the refusals: a successful call changes glibc's thresholds for the whole test process, which would move the
// resident-memory readings of the leak tests. The tools call it at start (src/FlowOod.Cli/Program.cs), and the bench's
// cpu line says whether it took effect.
public sealed class RetainFreedMemoryTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData((32L << 20) - 1)]
    [InlineData(-1L)]
    public void RetainFreedMemory_BelowTheMmapThreshold_ThrowsNamingTheParameter(long bytes)
    {
        var act = () => FlowOodRuntime.RetainFreedMemory(bytes);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("trimThresholdBytes");
    }

    [Fact]
    public void RetainFreedMemory_AboveWhatMalloptTakes_ThrowsNamingTheParameter()
    {
        var act = () => FlowOodRuntime.RetainFreedMemory((long)int.MaxValue + 1);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("trimThresholdBytes");
    }
}
