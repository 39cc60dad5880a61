using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Save → load identity for every FlowOod scorer: same type, same settings, bit-identical scores.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerPersistenceTests
{
    public static TheoryData<string> Scorers => ["Nll", "Typicality", "Waic"];

    [Theory]
    [MemberData(nameof(Scorers))]
    public void SaveThenLoad_EveryScorer_GivesIdenticalScores(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(30, ScalarType.Float32);
        var scorer = Create(name, batch);
        var path = folder.Combine(name + ModelFile.Extension);

        ModelFile.Save(scorer, path);
        var loaded = ModelFile.LoadScorer(path);

        loaded.GetType().Should().Be(scorer.GetType());
        loaded.Name.Should().Be(scorer.Name);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        foreach (var flow in FlowsOf(loaded))
        {
            flow.Dispose();
        }
    }

    [Fact]
    public void SaveThenLoad_TypicalityTest_GivesIdenticalVerdictsAndState()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 23);
        var test = TypicalityTest.Fit(flow, ScoringFlows.EightBitImages(40, ScalarType.Float32), batchSize: 4, alpha: 0.1, bootstrapSamples: 200, seed: 5);
        var batches = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var path = folder.Combine("typicality.flowood");

        ModelFile.Save(test, path);
        var loaded = ModelFile.LoadTypicalityTest(path);

        loaded.BootstrapStatistics.Should().Equal(test.BootstrapStatistics);
        (loaded.Entropy, loaded.BatchSize, loaded.Alpha, loaded.Threshold, loaded.ChunkSize, loaded.Noise)
            .Should().Be((test.Entropy, test.BatchSize, test.Alpha, test.Threshold, test.ChunkSize, test.Noise));
        loaded.TestBatches(batches).Should().Equal(test.TestBatches(batches));
        loaded.Flow.Dispose();
    }

    internal static IOodScorer Create(string name, Tensor heldOut)
    {
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 21);
        return name switch
        {
            "Nll" => new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize: 7),
            "Typicality" => TypicalityScorer.Fit(flow, heldOut, chunkSize: 9, ScoringNoise.Seeded(3)),
            "Waic" => new WaicScorer([flow, ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 22)], chunkSize: 11),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }

    internal static IEnumerable<NormalizingFlow> FlowsOf(IOodScorer scorer) => scorer switch
    {
        NegativeLogLikelihoodScorer s => [s.Flow],
        TypicalityScorer s => [s.Flow],
        WaicScorer s => s.Ensemble,
        _ => [],
    };
}
