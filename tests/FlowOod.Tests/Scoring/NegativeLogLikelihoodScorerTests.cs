using System;
using System.Linq;
using FlowOod.Scoring;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class NegativeLogLikelihoodScorerTests
{
    [Fact]
    public void Score_TinyRealNvpFloat32_OneFiniteScorePerInput()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(7, ScalarType.Float32);

        var scores = new NegativeLogLikelihoodScorer(flow).Score(batch);

        scores.Should().HaveCount(7);
        scores.Should().OnlyContain(s => double.IsFinite(s));
    }

    [Fact]
    public void Score_NatsAndBitsPerDim_RankIdentically()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(12, ScalarType.Float64);

        var nats = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch);
        var bits = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim).Score(batch);

        nats.Distinct().Should().HaveCount(12, "the ranking check needs distinct scores");
        Ranks(bits).Should().Equal(Ranks(nats));
        var dimensions = flow.Dimensions;
        for (int i = 0; i < nats.Length; i++)
        {
            var expectedBits = (nats[i] + (dimensions * Math.Log(256))) / (dimensions * Math.Log(2));
            bits[i].Should().BeApproximately(expectedBits, Tolerances.AnalyticRelative * Math.Abs(expectedBits));
        }
    }

    [Theory]
    [InlineData(256)]
    [InlineData(3)]
    public void Score_BatchOfTen_EqualsEachItemScoredAlone(int chunkSize)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(10, ScalarType.Float64);
        var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize);

        var together = scorer.Score(batch);
        var alone = Enumerable.Range(0, 10).Select(i => scorer.Score(batch.narrow(0, i, 1)).Single()).ToArray();

        for (int i = 0; i < 10; i++)
        {
            together[i].Should().BeApproximately(alone[i], Tolerances.BatchInvarianceRelative * Math.Abs(alone[i]), $"item {i}");
        }
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "wrong event shape", "*shape [N, 1, 8, 8]*[2, 1, 8, 7]*" },
        { "missing batch dimension", "*shape [N, 1, 8, 8]*[1, 8, 8]*" },
        { "float16", "*accepts Float32 batches*Float16*" },
        { "int32", "*accepts Float32 batches*Int32*" },
        { "NaN", "*NaN*" },
        { "infinity", "*infinite*" },
        { "value above 1", "*[0, 1]*" },
        { "value below 0", "*[0, 1]*" },
        { "empty batch", "*empty*" },
        { "meta device", "*meta device*" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Score_BadInput_ThrowsArgumentExceptionNamingTheProblem(string problem, string message)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = BadBatch(problem);
        var scorer = new NegativeLogLikelihoodScorer(flow);

        var act = () => scorer.Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Theory]
    [InlineData(ScalarType.Float32, ScalarType.Float64)]
    [InlineData(ScalarType.Float64, ScalarType.Float32)]
    public void Score_InputDtypeDiffersFromFlow_ThrowsArgumentExceptionNamingBoth(ScalarType flowType, ScalarType inputType)
    {
        // Regression: validation accepted any float32/float64 batch, and a mismatch with the parameters then failed deep
        // inside a convolution with a native "mixed dtype (CPU)" error instead of the documented ArgumentException.
        using var flow = ScoringFlows.CreatePrepared(noise: true, flowType);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(2, inputType);
        var scorer = new NegativeLogLikelihoodScorer(flow);

        var act = () => scorer.Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage($"*{flowType}*{inputType}*");
    }

    internal static Tensor BadBatch(string problem)
    {
        var good = ScoringFlows.EightBitImages(2, ScalarType.Float32);
        switch (problem)
        {
            case "wrong event shape":
                return zeros(2, 1, 8, 7);
            case "missing batch dimension":
                return zeros(1, 8, 8);
            case "float16":
                return good.to_type(ScalarType.Float16);
            case "int32":
                return good.Times(255).to_type(ScalarType.Int32);
            case "NaN":
                good[1, 0, 3, 3] = float.NaN;
                return good;
            case "infinity":
                good[0, 0, 0, 0] = float.PositiveInfinity;
                return good;
            case "value above 1":
                good[1, 0, 7, 7] = 1.5f;
                return good;
            case "value below 0":
                good[0, 0, 2, 5] = -0.25f;
                return good;
            case "empty batch":
                return zeros(0, 1, 8, 8);
            case "meta device":
                return good.to(new Device(DeviceType.META));
            default:
                throw new ArgumentOutOfRangeException(nameof(problem), problem, "Unknown bad input.");
        }
    }

    private static int[] Ranks(double[] scores) =>
        scores.Select((s, i) => (s, i)).OrderBy(p => p.s).Select(p => p.i).ToArray();
}
