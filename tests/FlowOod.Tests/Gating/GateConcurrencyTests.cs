using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Gating;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// Tensor.TotalCount is process-wide: these tests run in the collection that never runs alongside another one, so only
// their own tensors move it.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GateConcurrencyTests(FittedGateFixture fixture) : IClassFixture<FittedGateFixture>
{
    private OodGate Gate => fixture.Gate;

    [Fact]
    public void ConcurrentCalls_GiveTheSerialAnswersBitForBit_AndLeakNoTensors()
    {
        using var scope = NewDisposeScope();
        var pool = cat([GateTestModels.InDistribution(60, seed: 8), GateTestModels.Noise(20, seed: 9)], 0);
        var random = new Random(1);
        var requests = Enumerable.Range(0, 160).Select(_ => (Start: random.Next(0, 70), Length: random.Next(1, 11))).ToArray();
        var serial = requests.Select(r => Gate.Classify(pool.narrow(0, r.Start, r.Length))).ToArray();

        var liveBefore = Concurrency.SettledTensorCount();
        var concurrent = Concurrency.OnThreads(4, requests.Length, i =>
        {
            using var narrowed = pool.narrow(0, requests[i].Start, requests[i].Length);
            return Gate.Classify(narrowed);
        });

        Tensor.TotalCount.Should().Be(liveBefore, "concurrent Classify calls must free every temporary");
        Enumerable.Range(0, requests.Length)
            .Count(i => !concurrent[i].Zip(serial[i]).All(p => GateTestModels.SameBits(p.First, p.Second)))
            .Should().Be(0, "every concurrent answer must equal the serial one bit for bit");
    }

    [Fact]
    public void RepeatedCalls_LeaveTheLiveTensorCountUnchanged()
    {
        using var inputs = GateTestModels.InDistribution(11, seed: 12);
        using var one = inputs[0];
        Gate.Classify(inputs);
        Gate.ClassifyOne(one);
        var before = Concurrency.SettledTensorCount();
        for (int i = 0; i < 20; i++)
        {
            Gate.Classify(inputs);
            Gate.ClassifyOne(one);
        }

        Tensor.TotalCount.Should().Be(before);
    }
}
