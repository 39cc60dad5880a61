using System.Collections.Generic;
using System.Linq;
using FlowOod.Benchmarks;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Guards;

// The short version of `./build.sh soak`: every scorer kind, a detector and both gate kinds shared by 1 and by 8 request
// threads while another thread forces garbage collections, each answer compared bit for bit with the serial one.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryTarget_OnOneAndEightThreads_UnderForcedCollections_NeverFails_AndGivesTheSerialAnswers()
    {
        var lines = new List<string>();

        var phases = Soak.Run(callsPerPhase: 3000, threadCounts: [1, 8], print: lines.Add, distinctRequests: 500);

        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        phases.Select(p => p.Threads).Should().Equal(1, 8);
        phases.Should().AllSatisfy(p =>
        {
            p.Calls.Should().Be(3000);
            p.Collections.Should().BePositive("the collector thread must have run during the calls");
            p.Exceptions.Should().Be(0, p.FirstException);
            p.Mismatches.Should().Be(0, "every concurrent answer equals the serial one bit for bit");
            p.LeakedTensors.Should().Be(0, "no call may leave a tensor alive");
        });
        lines.Last().Should().StartWith("soak: PASS");
    }
}
