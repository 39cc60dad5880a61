using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Testing;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ModelFileTests
{
    public static TheoryData<string> Builders => ["RealNvp", "RealNvpCycleBottleneck", "Glow", "GlowPlainHighway", "SingleScaleAutoencoder", "Tabular", "RealNvpFloat64"];

    [Theory]
    [MemberData(nameof(Builders))]
    public void SaveThenLoad_EveryBuilder_GivesBitIdenticalLogDensitiesAndState(string builder)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var (flow, batch) = Prepared(builder);
        var path = folder.Combine("model" + ModelFile.Extension);

        ModelFile.Save(flow, path, new Dictionary<string, string> { ["note"] = builder });
        using var loaded = ModelFile.LoadFlow(path);

        loaded.training.Should().BeFalse("a loaded flow is ready to score");
        loaded.Architecture!.Builder.Should().Be(flow.Architecture!.Builder);
        var expected = flow.state_dict();
        var actual = loaded.state_dict();
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, tensor) in expected)
        {
            actual[name].dtype.Should().Be(tensor.dtype, name);
            actual[name].eq(tensor).all().ReadBoolean().Should().BeTrue($"{name} is stored bit for bit");
        }

        new NegativeLogLikelihoodScorer(loaded, LikelihoodUnit.Nats).Score(batch)
            .Should().Equal(new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch));
    }

    [Fact]
    public void Load_DoesNotDisturbTorchsGlobalRandomStream()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var (flow, _) = Prepared("Glow");
        var path = folder.Combine("glow.flowood");
        ModelFile.Save(flow, path);

        random.manual_seed(5);
        var expected = rand(4).data<float>().ToArray();
        random.manual_seed(5);
        using (ModelFile.LoadFlow(path))
        {
        }

        rand(4).data<float>().ToArray().Should().Equal(expected);
    }

    [Fact]
    public void SaveThenLoad_UninitialisedActNorm_StaysUninitialised()
    {
        using var folder = new TempFolder();
        random.manual_seed(3);
        using var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny);
        var path = folder.Combine("fresh.flowood");

        ModelFile.Save(flow, path);
        using var loaded = ModelFile.LoadFlow(path);

        loaded.modules().OfType<ActNorm>().Should().OnlyContain(layer => !layer.IsInitialized);
    }

    [Theory]
    [InlineData(ScoringNoiseKind.BinCentres)]
    [InlineData(ScoringNoiseKind.Seeded)]
    public void SaveThenLoad_NllScorer_GivesIdenticalScoresAndSettings(ScoringNoiseKind noise)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        var batch = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim, chunkSize: 16, ScoringNoise.Of(noise, 42));
        var path = folder.Combine("scorer.flowood");

        ModelFile.Save(scorer, path);
        var loaded = ModelFile.LoadScorer(path).Should().BeOfType<NegativeLogLikelihoodScorer>().Subject;

        loaded.Unit.Should().Be(LikelihoodUnit.BitsPerDim);
        loaded.ChunkSize.Should().Be(16);
        loaded.Noise.Should().Be(scorer.Noise);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        loaded.Flow.Dispose();
    }

    [Fact]
    public void Score_SeededNoise_IsReproducibleAndDiffersFromBinCentres()
    {
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        var batch = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var seeded = new NegativeLogLikelihoodScorer(flow, noise: ScoringNoise.Seeded(7));

        var first = seeded.Score(batch);
        var second = seeded.Score(batch);
        var centres = new NegativeLogLikelihoodScorer(flow).Score(batch);

        second.Should().Equal(first);
        centres.Should().NotEqual(first);
        new NegativeLogLikelihoodScorer(flow).Score(batch).Should().Equal(centres);
    }

    [Fact]
    public void Save_ReplacesExistingFileAtomicallyAndLeavesNoTemporaryFiles()
    {
        using var folder = new TempFolder();
        random.manual_seed(1);
        using var first = TabularRealNvp.Create(4, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 });
        using var second = TabularRealNvp.Create(6, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 });
        var path = folder.Combine("model.flowood");

        ModelFile.Save(first, path);
        ModelFile.Save(second, path);

        Directory.GetFiles(folder.Path).Should().Equal(path);
        using var loaded = ModelFile.LoadFlow(path);
        loaded.EventShape.Should().Equal(6);
    }

    [Fact]
    public void Save_FlowWithoutArchitecture_ThrowsAndWritesNothing()
    {
        using var folder = new TempFolder();
        using var flow = new NormalizingFlow(new Chain([new Squeeze()]), [4, 2, 2]);
        var path = folder.Combine("model.flowood");
        File.WriteAllText(path, "previous content");

        var act = () => ModelFile.Save(flow, path);

        act.Should().Throw<NotSupportedException>().WithMessage("*Architecture*FlowArchitecture.Custom*");
        File.ReadAllText(path).Should().Be("previous content");
        Directory.GetFiles(folder.Path).Should().HaveCount(1);
    }

    [Fact]
    public void Save_BuilderWithCustomMask_HasNoArchitectureAndSaysWhy()
    {
        using var folder = new TempFolder();
        var mask = new CustomMask((shape, layer) => CheckerboardMask.Instance.Create(shape, layer));
        using var flow = SingleScaleRealNvp.Create([1, 4, 4], new SingleScaleRealNvpOptions { Mask = mask, Couplings = 2, Conditioner = new ResNetConditionerFactory(4, 1) });

        flow.Architecture.Should().BeNull();
        var act = () => ModelFile.Save(flow, folder.Combine("m.flowood"));
        act.Should().Throw<NotSupportedException>().WithMessage("*custom component*");
    }

    [Fact]
    public void SaveThenLoad_CustomArchitecture_UsesTheRegisteredFactory()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        static NormalizingFlow Build(long features)
        {
            var flow = new NormalizingFlow(new Chain([new AffineCoupling([features], ChannelMask.Instance, 0, new MlpConditionerFactory(8, 1))]), [features])
            {
                Architecture = FlowArchitecture.Custom("my-coupling", $"{{\"features\": {features}}}"),
            };
            return flow;
        }

        random.manual_seed(4);
        var flow = Build(6);
        BijectorCase.Perturb(flow);
        var path = folder.Combine("custom.flowood");
        ModelFile.Save(flow, path);
        var batch = randn(5, 6);

        var missing = () => ModelFile.LoadFlow(path);
        missing.Should().Throw<ModelFormatException>().WithMessage("*custom factory \"my-coupling\"*ModelCatalog.BuiltIn.WithFlowFactory(\"my-coupling\", factory)*");

        var options = new ModelLoadOptions
        {
            Catalog = ModelCatalog.BuiltIn.WithFlowFactory(
                "my-coupling", (architecture, shape) => Build(JsonNode.Parse(architecture.Options)!["features"]!.GetValue<long>())),
        };
        using var loaded = ModelFile.LoadFlow(path, options);
        loaded.LogProb(batch).eq(flow.LogProb(batch)).all().ReadBoolean().Should().BeTrue();
    }

    [Fact]
    public void ReadInfo_ReportsKindVersionsMetadataAndBuilders()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var (flow, _) = Prepared("Tabular");
        var path = folder.Combine("m.flowood");
        ModelFile.Save(new NegativeLogLikelihoodScorer(flow), path, new Dictionary<string, string> { ["data"] = "gaussian", ["steps"] = "0" });

        var info = ModelFile.ReadInfo(path);

        info.Kind.Should().Be("scorer");
        info.FormatVersion.Should().Be(2u);
        info.FlowOodVersion.Should().Be(ModelFile.LibraryVersion).And.NotBeNullOrEmpty();
        info.Metadata.Should().BeEquivalentTo(new Dictionary<string, string> { ["data"] = "gaussian", ["steps"] = "0" });
        info.FlowBuilders.Should().Equal("TabularRealNvp");
    }

    [Fact]
    public void LoadScorer_OnAFlowFile_NamesTheKind()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var (flow, _) = Prepared("Tabular");
        var path = folder.Combine("m.flowood");
        ModelFile.Save(flow, path);

        var act = () => ModelFile.LoadScorer(path);

        act.Should().Throw<ModelFormatException>().WithMessage("*holds a flow, not a scorer*");
    }

    internal static (NormalizingFlow Flow, Tensor Batch) Prepared(string builder)
    {
        random.manual_seed(11);
        long[] image = [1, 8, 8];
        var flow = builder switch
        {
            "RealNvp" => RealNvp.Create(image, new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1 }),
            "RealNvpCycleBottleneck" => RealNvp.Create(image, new RealNvpOptions { Scales = 2, Width = 4, Blocks = 2, SpatialMask = CycleMask.Instance, Bottleneck = new LinearBottleneck(3), WeightNorm = true }),
            "Glow" => Glow.Create(image, GlowOptions.Tiny with { Width = 4 }),
            "GlowPlainHighway" => Glow.Create(image, GlowOptions.Tiny with { LuDecomposedConvolution = false, Conditioner = new HighwayConditionerFactory(4, 2), ScaleActivation = ScaleActivation.SoftClamp(1.5) }),
            "SingleScaleAutoencoder" => SingleScaleRealNvp.Create([1, 16, 16], new SingleScaleRealNvpOptions { Mask = HalfMask.Vertical, Couplings = 2, Conditioner = new AutoencoderConditionerFactory(5) }),
            "Tabular" => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 3, HiddenWidth = 8 }),
            "RealNvpFloat64" => RealNvp.Create(image, new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 }),
            _ => throw new ArgumentOutOfRangeException(nameof(builder)),
        };
        var dtype = builder == "RealNvpFloat64" ? ScalarType.Float64 : ScalarType.Float32;
        flow.to(dtype);
        BijectorCase.Perturb(flow);
        var shape = flow.EventShape.ToArray();
        var batch = builder == "Tabular" ? randn([12, .. shape], dtype: dtype) : randint(0, 256, [12, .. shape], dtype: dtype).DivideInPlace(255.0);
        ActNorm.InitializeAll(flow, batch);
        flow.train();
        using (no_grad())
        {
            flow.LogProb(batch).Dispose();
        }

        flow.eval();
        return (flow, batch);
    }
}
