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
