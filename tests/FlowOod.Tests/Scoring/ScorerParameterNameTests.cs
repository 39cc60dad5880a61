using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Scoring;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// A rejected batch names the parameter the caller passed: ArgumentException.ParamName equals the public method's
// parameter name, for every scorer kind (the concurrency test's list, which the registry test keeps complete), the
// detector over each of them, and the scorers' other batch methods. Regression: the flows' checks named their own
// parameter, "input", where every scorer's method takes "batch".
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerParameterNameTests
{
    public static TheoryData<string> BadInputs => ["float16", "wrong shape", "NaN"];

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void ScoreAndPredict_BadBatch_NameTheBatchParameter(string problem)
    {
        using var scope = NewDisposeScope();
        var heldOut = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var scorers = ConcurrentScoringTests.CreateScorers(heldOut);
        try
        {
            var publicScorers = typeof(IOodScorer).Assembly.GetExportedTypes()
                .Where(t => t.IsClass && !t.IsAbstract && typeof(IOodScorer).IsAssignableFrom(t));
            scorers.Select(s => s.GetType()).Should().Contain(publicScorers, "every scorer kind is checked");
            var batch = Bad(problem);
            foreach (var scorer in scorers)
            {
                using var detector = OodDetector.Calibrate(scorer, heldOut, 0.1);
                ParamName(() => scorer.Score(batch)).Should().Be("batch", $"{scorer.GetType().Name}.Score rejects a batch with {problem}");
                ParamName(() => detector.Predict(batch)).Should().Be("batch", $"OodDetector.Predict over {scorer.GetType().Name} rejects a batch with {problem}");
                switch (scorer)
                {
                    case InputComplexityScorer complexity:
                        ParamName(() => complexity.CompressedBits(batch)).Should().Be("batch", $"CompressedBits rejects {problem}");
                        break;
                    case WaicScorer waic:
                        ParamName(() => waic.LogLikelihoods(batch)).Should().Be("batch", $"LogLikelihoods rejects {problem}");
                        break;
                }
            }
        }
        finally
        {
            Dispose(scorers);
        }
    }

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void TypicalityTest_BadBatch_NamesTheParameter(string problem)
    {
        using var scope = NewDisposeScope();
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 31);
        using var test = TypicalityTest.Fit(flow, ScoringFlows.EightBitImages(40, ScalarType.Float32), batchSize: 2);
        var batch = Bad(problem);

        ParamName(() => test.Test(batch)).Should().Be("batch");
        ParamName(() => test.TestBatches(batch)).Should().Be("data");
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Float64)]
    public void Score_OtherDtypeThanTheFlows_SaysTheOneAcceptedDtypeOnce(ScalarType dtype)
    {
        // Regression: float16 and int32 were told "Expected float32 or float64 input", and float64 was then refused by a
        // second check ("Expected Float32 input to match the flow's parameters").
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        using var scorer = new NegativeLogLikelihoodScorer(flow);
        var batch = ScoringFlows.EightBitImages(2, ScalarType.Float32).to_type(dtype);

        var act = () => scorer.Score(batch);

        var message = act.Should().Throw<ArgumentException>().Which.Message;
        message.Should().Contain("accepts Float32 batches").And.Contain($"got {dtype}").And.Contain(".to_type(ScalarType.Float32)");
        message.Should().NotContainEquivalentOf("float64 input", "float64 is not accepted by a float32 flow, so the message must not offer it");
    }

    private static string? ParamName(Action act)
    {
        try
        {
            act();
        }
        catch (ArgumentException e)
        {
            return e.ParamName;
        }

        throw new InvalidOperationException("Expected an ArgumentException, but nothing was thrown.");
    }

    private static Tensor Bad(string problem)
    {
        var good = ScoringFlows.EightBitImages(2, ScalarType.Float32);
        switch (problem)
        {
            case "float16":
                return good.to_type(ScalarType.Float16);
            case "wrong shape":
                return zeros(2, 5);
            case "NaN":
                good[1, 0, 3, 3] = float.NaN;
                return good;
            default:
                throw new ArgumentOutOfRangeException(nameof(problem), problem, null);
        }
    }

    private static void Dispose(IEnumerable<IOodScorer> scorers)
    {
        var list = scorers.ToArray();
        var flows = list.SelectMany(ScorerPersistenceTests.FlowsOf).Distinct().ToArray();
        foreach (var scorer in list)
        {
            scorer.Dispose();
        }

        foreach (var flow in flows)
        {
            flow.Dispose();
        }
    }
}
