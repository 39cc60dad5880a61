using System;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Scoring;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// Every public scorer (and detector) type of FlowOod has cases in the theories that hold scorers to their contract:
// save → load identity and no live tensors after scoring (ScorerPersistenceTests, ScorerContractTests), and sharing
// between threads (ConcurrentScoringTests). A new public scorer without cases fails here, naming itself.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerRegistryTests
{
    // Scorers that need code at load time have dedicated save → load, leak and bad-input tests instead of theory rows.
    private static readonly Type[] DedicatedTests = [typeof(FeatureSpaceScorer)];

    [Fact]
    public void EveryPublicScorer_HasSaveLoadLeakAndConcurrencyCases()
    {
        using var scope = NewDisposeScope();
        var heldOut = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var publicScorers = typeof(IOodScorer).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(IOodScorer).IsAssignableFrom(t))
            .ToArray();
        var theoryScorers = ScorerPersistenceTests.Scorers.Select(row => (string)row.Data).Select(name =>
        {
            using var scorer = ScorerPersistenceTests.Create(name, heldOut);
            var type = scorer.GetType();
            foreach (var flow in ScorerPersistenceTests.FlowsOf(scorer))
            {
                flow.Dispose();
            }

            return type;
        }).Concat(DedicatedTests).ToHashSet();
        var concurrent = ConcurrentScoringTests.CreateScorers(heldOut);
        var concurrentTypes = concurrent.Select(s => s.GetType()).ToHashSet();
        foreach (var scorer in concurrent)
        {
            scorer.Dispose();
        }

        publicScorers.Should().NotBeEmpty();
        publicScorers.Where(t => !theoryScorers.Contains(t)).Should().BeEmpty("every public scorer needs save → load and leak cases");
        publicScorers.Where(t => !concurrentTypes.Contains(t)).Should().BeEmpty("every public scorer needs a concurrency case");
    }

    [Fact]
    public void TheDetectorIsTheOnlyPublicDetectorKind_AndIsCoveredByTheConcurrencyTest()
    {
        var detectors = typeof(OodDetector).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && !t.IsAbstract && t.Namespace == typeof(OodDetector).Namespace && typeof(IDisposable).IsAssignableFrom(t));

        detectors.Should().Equal([typeof(OodDetector)], "a new detector kind needs save → load, leak and concurrency cases like OodDetector's");
    }
}
