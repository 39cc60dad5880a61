using System;
using System.Linq;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// Every image scorer rejects every kind of bad batch with an ArgumentException that names the problem, before it
// computes anything (the NLL scorer's list of bad inputs, applied to all of them).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerBadInputTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var scorer in new[] { "LikelihoodRatio", "InputComplexityPng", "Typicality", "Waic" })
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
}
