using System.Linq;
using FlowOod.Analysis;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Analysis;

/// <summary>The analyses free every tensor they create (once their results are disposed) and never change the flow.</summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class AnalysisLeakTests
{
    [Theory]
    [InlineData("RealNvp")]
    [InlineData("Glow")]
    [InlineData("HandBuilt")]
    public void EveryQuery_LeavesTheLiveTensorCountAtTheBaseline_AndTheFlowAsItWas(string kind)
    {
        using var flow = kind switch
        {
            "RealNvp" => AnalysisFixtures.TinyRealNvp(31),
            "Glow" => AnalysisFixtures.TinyGlow(31),
            _ => AnalysisFixtures.HandBuilt(perturb: true, seed: 31),
        };
        using var images = AnalysisFixtures.Images(4, seed: 31);
        var before = AnalysisFixtures.Snapshot(flow);
        var batchStatistics = kind == "RealNvp" ? BatchNormStatistics.Batch : BatchNormStatistics.Running;

        void RunAll()
        {
            using (var model = LatentView.ReshapeModel(flow, includePreprocessing: true))
            {
            }

            using (var z = LatentView.Latents(flow, images, ScoringNoise.Random, samples: 3, statistics: batchStatistics))
            using (var pixels = LatentView.ToPixelLayout(flow, z))
            {
            }

            using (var trace = CouplingView.Trace(flow, images, ScoringNoise.Seeded(3), batchStatistics))
            {
            }

            CoAdaptation.Measure(flow, images, ScoringNoise.BinCentres, batchSize: 3, statistics: batchStatistics);
        }

        RunAll(); // first use: static caches, lazily created natives
        var baseline = Concurrency.SettledTensorCount();
        RunAll();
        (Tensor.TotalCount - baseline).Should().Be(0, "{0}: every tensor an analysis creates is freed, without the finalizer", kind);

        before.ShouldMatch(flow);
        flow.IsInEvaluationMode.Should().BeTrue();
        before.DisposeAll();
    }
}

/// <summary>Analyses of one shared flow on several threads at once give what they give one at a time.</summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class AnalysisConcurrencyTests
{
    [Fact]
    public void Queries_OnASharedFlowFromSeveralThreads_MatchTheSequentialResults()
    {
        using var flow = AnalysisFixtures.TinyRealNvp(51);
        using var images = AnalysisFixtures.Images(4, seed: 51);
        double[] Run(int i)
        {
            using var scope = NewDisposeScope();
            var statistics = i % 2 == 0 ? BatchNormStatistics.Running : BatchNormStatistics.Batch;
            var z = LatentView.Latents(flow, images, ScoringNoise.Seeded(7), samples: 2, statistics: statistics);
            using var trace = CouplingView.Trace(flow, images, ScoringNoise.Seeded(7), statistics);
            var r = CoAdaptation.Measure(flow, images, ScoringNoise.Seeded(7), statistics: statistics);
            return [z.sum().ReadDouble(), trace[^1].Output.sum().ReadDouble(), trace[3].Shift!.sum().ReadDouble(), r[0].RSquared, r[^1].RSquared];
        }

        var sequential = Enumerable.Range(0, 6).Select(Run).ToArray();
        var concurrent = Concurrency.OnThreads(threads: 3, count: 6, Run);

        for (int i = 0; i < 6; i++)
        {
            concurrent[i].Should().Equal(sequential[i], "call {0} ran beside others", i);
        }

        flow.IsInEvaluationMode.Should().BeTrue();
    }
}
