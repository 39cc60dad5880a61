using FlowOod.Benchmarks;
using FlowOod.Scoring;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Guards;

// The failure ScalarLifetimeTests guards against, provoked: scoring on two threads while a third forces garbage
// collections without pause. Before ScalarMath, TorchSharp's temporary Scalars (Chain's `logDet + stepLogDet`, the
// dequantization's `mul(255.0)`, ...) were finalized during native calls: c10 threw "Expected false to be true" from
// Scalar::toFloat, or libtorch read another value and the score came out wrong without an error.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScalarRaceTests
{
    private const int Calls = 12000;

    [Fact]
    public void Scoring_WhileTheCollectorRunsWithoutPause_NeverFails_AndGivesTheSerialScores()
    {
        using var scope = NewDisposeScope();
        using var scorer = new NegativeLogLikelihoodScorer(ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 12), ownsFlow: true);
        var batch = ScoringFlows.EightBitImages(2, ScalarType.Float32);
        var expected = scorer.Score(batch);

        var phase = Soak.RunPhase(threads: 2, Calls, collectorPauseMilliseconds: 0, _ => scorer.Score(batch), _ => expected);

        phase.Exceptions.Should().Be(0, $"no native call may see a freed Scalar (first: {phase.FirstException})");
        phase.Mismatches.Should().Be(0, "every call must give the serial scores bit for bit");
        phase.LeakedTensors.Should().Be(0);
    }
}
