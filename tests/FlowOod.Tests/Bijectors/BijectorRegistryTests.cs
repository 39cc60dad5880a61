using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Testing;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Bijectors;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BijectorRegistryTests
{
    [Fact]
    public void Registry_EveryPublicConcreteBijectorType_HasACase()
    {
        var covered = BijectorCases.All.Select(c =>
        {
            using var bijector = c.Create();
            return bijector.GetType();
        }).ToHashSet();
        var bijectorTypes = typeof(Bijector).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(Bijector).IsAssignableFrom(t));

        var uncovered = bijectorTypes.Where(t => !covered.Contains(t)).Select(t => t.FullName).ToList();

        uncovered.Should().BeEmpty("every public bijector needs a case in {0} (uncovered: {1})", nameof(BijectorCases), string.Join(", ", uncovered));
    }

    [Fact]
    public void Registry_CaseNames_AreUnique()
    {
        BijectorCases.All.Select(c => c.Name).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void Registry_CasesWithoutLatentRoundTrip_SayWhy()
    {
        BijectorCases.All.Where(c => c.Latent != LatentKind.Gaussian || !c.Deterministic)
            .Should().OnlyContain(c => !string.IsNullOrWhiteSpace(c.Note));
    }
}
