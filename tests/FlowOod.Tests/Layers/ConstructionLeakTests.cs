using System;
using System.Linq;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Layers;

/// <summary>
/// Building, loading and copying a flow and disposing it leaves torch's live-tensor count exactly where it was, with
/// no tensor wrapper left for the finalizer.
/// </summary>
/// <remarks>
/// Before FlowOod had its own layers, one build + dispose of the small RealNVP below left +270 on the count: +200 for
/// its 200 parameters (TorchSharp's <c>new Parameter(tensor)</c> moves the handle out of <c>tensor</c> without
/// decrementing the count; <c>Layers.Parameters</c> now avoids that) and +70 finalizer-only wrappers (the second
/// wrapper <c>zero_()</c> returns in the zero-initialisation of each last st-network layer, the fan-in probe
/// <c>weight[0, 0]</c> inside TorchSharp's <c>Conv2d</c> bias initialisation, and <c>tensor(false)</c> in ActNorm).
/// The count is read right after disposal, before any collection, so a wrapper only a finalizer would free fails too.
/// </remarks>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConstructionLeakTests
{
    private const int Repetitions = 3;

    public static TheoryData<string> Kinds => ["RealNvp", "GlowLu", "GlowPlainHighway", "SingleScaleAutoencoder", "RealNvpWeightNormCycleBottleneck", "Tabular"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BuildAndDispose_Repeatedly_LeavesTheLiveTensorCountAtTheBaseline(string kind)
    {
        AssertNoDrift(kind, () =>
        {
            using var flow = NoGlobalGeneratorTests.Build(kind);
        });
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LoadCopyAndDispose_Repeatedly_LeavesTheLiveTensorCountAtTheBaseline(string kind)
    {
        using var folder = new TempFolder();
        var path = folder.Combine("model" + ModelFile.Extension);
        using (var scope = NewDisposeScope())
        using (var flow = NoGlobalGeneratorTests.Build(kind))
        {
            if (kind.StartsWith("Glow", StringComparison.Ordinal))
            {
                using var generator = new Generator(1);
                FlowOod.Bijectors.ActNorm.InitializeAll(flow, rand([8L, .. flow.EventShape], generator: generator));
            }

            ModelFile.Save(flow, path);
        }

        AssertNoDrift(kind, () =>
        {
            using var loaded = ModelFile.LoadFlow(path);
            using var copy = FlowCopy.Of(loaded);
        });
    }

    private static void AssertNoDrift(string kind, Action buildAndDispose)
    {
        buildAndDispose(); // first use: static caches, lazily created natives
        var baseline = Concurrency.SettledTensorCount();
        for (int i = 1; i <= Repetitions; i++)
        {
            buildAndDispose();
            (Tensor.TotalCount - baseline).Should().Be(0, "{0}: repetition {1} must free every tensor it created, without the finalizer", kind, i);
        }
    }
}
