using System.Linq;
using FlowOod.Testing;
using Xunit;

namespace FlowOod.Tests.Bijectors;

// Runs every check of the public conformance kit (FlowOod.Testing) over every registry case: one test per (check, case).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BijectorConformanceTests
{
    public static TheoryData<string, string> CheckAndCase()
    {
        var data = new TheoryData<string, string>();
        foreach (var (check, _) in BijectorConformance.Checks)
        {
            foreach (var testCase in BijectorCases.All)
            {
                data.Add(check, testCase.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CheckAndCase))]
    public void Conformance_CheckOnCase_Passes(string check, string caseName)
    {
        var run = BijectorConformance.Checks.Single(c => c.Name == check).Check;

        run(BijectorCases.Get(caseName), ConformanceTolerances.Default);
    }
}
