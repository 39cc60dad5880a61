using System;
using System.Linq;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// What every image scorer owes its caller: every kind of bad batch is rejected with an ArgumentException that names
// the problem, before anything is computed (the NLL scorer's list of bad inputs, applied to all of them); and scoring
// frees every temporary tensor.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerContractTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var scorer in new[] { "LikelihoodRatio", "LocalLikelihoodRatio", "InputComplexityPng", "Typicality", "Waic", "Stirring", "ScoreDensity", "RotationPrediction" })
        {
            foreach (var row in NegativeLogLikelihoodScorerTests.BadInputs())
            {
                data.Add(scorer, row.Data.Item1, row.Data.Item2);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Score_BadInput_ThrowsArgumentExceptionNamingTheProblem(string scorerName, string problem, string message)
    {
        using var scope = NewDisposeScope();
        var scorer = ScorerPersistenceTests.Create(scorerName, ScoringFlows.EightBitImages(10, ScalarType.Float32));
        var batch = NegativeLogLikelihoodScorerTests.BadBatch(problem);

        var act = () => scorer.Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage(message);
        foreach (var flow in ScorerPersistenceTests.FlowsOf(scorer))
        {
            flow.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(ScorerPersistenceTests.Scorers), MemberType = typeof(ScorerPersistenceTests))]
    public void Score_Batch_LeavesNoLiveTensors(string scorerName)
    {
        using var scope = NewDisposeScope();
        var scorer = ScorerPersistenceTests.Create(scorerName, ScoringFlows.EightBitImages(10, ScalarType.Float32));
        var batch = ScoringFlows.EightBitImages(30, ScalarType.Float32);
        DisposeScopeManager.Statistics.Reset();
        var baseline = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        scorer.Score(batch);

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(
            baseline, $"scoring must free every temporary ({DisposeScopeManager.Statistics})");
        foreach (var flow in ScorerPersistenceTests.FlowsOf(scorer))
        {
            flow.Dispose();
        }
    }
}
