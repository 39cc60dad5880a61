using System;
using System.IO;
using FlowOod.Components;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Testing;
using FluentAssertions;
using Xunit;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Samples.CustomCoupling;

// A user's own st-network saved and loaded like FlowOod's: it describes itself, and the loader reads it once its type
// is registered in the load options' component catalog.
[Collection(nameof(ShiftScaleCouplingTests))]
public sealed class ScaledResNetConditionerFactoryTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-sample-" + Guid.NewGuid().ToString("N"));

    public ScaledResNetConditionerFactoryTests() => Directory.CreateDirectory(folder);

    [Fact]
    public void SaveThenLoad_WithTheCatalog_GivesIdenticalLogDensities()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var options = new SingleScaleRealNvpOptions { Couplings = 2, Conditioner = new ScaledResNetConditionerFactory(8, 1, 0.5), DequantizationNoise = false };
        using var flow = SingleScaleRealNvp.Create([1, 8, 8], options);
        BijectorCase.Perturb(flow);
        flow.eval();
        flow.Architecture.Should().NotBeNull("the st-network describes itself");
        flow.Architecture!.Options.Should().Contain("\"type\":\"sample-scaled-resnet\",\"width\":8,\"blocks\":1,\"gain\":0.5");
        var path = Path.Combine(folder, "scaled" + ModelFile.Extension);
        ModelFile.Save(flow, path);
        using var levels = 255.0.ToScalar();
        var batch = randint(0, 256, [6, 1, 8, 8]).to(ScalarType.Float32).div_(levels);

        var catalog = ModelCatalog.BuiltIn.With<ScaledResNetConditionerFactory>();
        using var loaded = ModelFile.LoadFlow(path, new ModelLoadOptions { Catalog = catalog });

        using var expected = flow.LogProb(batch);
        using var actual = loaded.LogProb(batch);
        actual.data<float>().ToArray().Should().Equal(expected.data<float>().ToArray());
    }

    [Fact]
    public void Load_WithoutTheCatalog_SaysWhatToRegister()
    {
        random.manual_seed(6);
        using var flow = SingleScaleRealNvp.Create([1, 8, 8], new SingleScaleRealNvpOptions { Couplings = 2, Conditioner = new ScaledResNetConditionerFactory(4, 1, 1) });
        var path = Path.Combine(folder, "scaled" + ModelFile.Extension);
        ModelFile.Save(flow, path);

        var act = () => ModelFile.LoadFlow(path);
        act.Should().Throw<ModelFormatException>().WithMessage("*unknown st-network \"sample-scaled-resnet\"*ModelCatalog.BuiltIn.With<*");
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
