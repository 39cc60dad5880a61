using System;
using System.Collections.Generic;
using System.Linq;
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
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

/// <summary>
/// Every public mask, bottleneck, st-network factory, compressor, builder-options and scorer type of FlowOod (and every
/// built-in component) is either saved and loaded by a case here, or listed as not persistable with a reason.
/// </summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ComponentRegistryTests
{
    private static readonly Type[] Kinds = [typeof(IMaskStrategy), typeof(IBottleneck), typeof(IConditionerFactory), typeof(ICompressor), typeof(IFlowBuilderOptions), typeof(ScaleActivation), typeof(IOodScorer)];

    private static readonly Dictionary<Type, string> NotPersistable = new()
    {
        [typeof(CustomMask)] = "wraps fixed masks or a delegate (code); describe the flow with FlowArchitecture.Custom or write an IComponent mask",
    };

    // The mlp case's vector builder is a test-local component; every other case loads with the built-in catalog.
    private static readonly ModelLoadOptions LoadOptions = new() { Catalog = ModelCatalog.BuiltIn.With<VectorCouplingOptions>() };

    // Component name → a flow or a scorer case that uses it.
    private static readonly Dictionary<string, Func<object>> Cases = new()
    {
        ["checkerboard"] = () => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 1)),
        ["channel"] = () => SingleScaleRealNvp.Create([2, 4, 4], new SingleScaleRealNvpOptions { Mask = ChannelMask.Instance, Couplings = 2, Conditioner = new ResNetConditionerFactory(4, 1) }),
        ["cycle"] = () => SingleScale(CycleMask.Instance, new ResNetConditionerFactory(4, 1)),
        ["half"] = () => SingleScale(HalfMask.Vertical, new ResNetConditionerFactory(4, 1)),
        ["quadrant"] = () => SingleScale(new QuadrantMask(Quadrant.TopRight, Quadrant.BottomLeft), new ResNetConditionerFactory(4, 1)),
        ["none"] = () => RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 }),
        ["linear"] = () => RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 2, Bottleneck = new LinearBottleneck(2) }),
        ["resnet"] = () => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 1, NoBottleneck.Instance, weightNorm: true)),
        ["highway"] = () => SingleScale(CheckerboardMask.Instance, new HighwayConditionerFactory(4, 1)),
        ["local"] = () => SingleScale(CheckerboardMask.Instance, new LocalConditionerFactory(3, 4, 1)),
        ["glowConv"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, Conditioner = new GlowConvConditionerFactory(4) }),
        ["mlp"] = () => new VectorCouplingOptions { Conditioner = new MlpConditionerFactory(8, 1, 0.25) }.Build([5]),
        ["autoencoder"] = () => SingleScaleRealNvp.Create([1, 16, 16], new SingleScaleRealNvpOptions { Mask = HalfMask.Vertical, Couplings = 2, Conditioner = new AutoencoderConditionerFactory(3) }),
        ["realNvpTanh"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.RealNvpTanh }),
        ["glowSigmoid"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.GlowSigmoid }),
        ["softClamp"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.SoftClamp(0.75) }),
        ["RealNvp"] = () => RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1, LogitAlpha = 0.01 }),
        ["Glow"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, LuDecomposedConvolution = false }),
        ["SingleScaleRealNvp"] = () => SingleScale(HalfMask.Horizontal, new ResNetConditionerFactory(4, 1)),
        ["AutoregressiveFlow"] = () => AutoregressiveFlow.Create([1, 4, 4], new AutoregressiveFlowOptions { Layers = 2, Window = 3, Width = 4, ContextLayers = 1, Blocks = 1 }),
        ["TabularRealNvp"] = () => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8, Dropout = 0.1 }),
        ["PNG"] = () => ImageCase(new InputComplexityScorer(ScoringFlowsFor(), new PngCompressor(), ownsFlow: true)),
        ["Deflate"] = () => ImageCase(new InputComplexityScorer(ScoringFlowsFor(), new DeflateCompressor(), ownsFlow: true)),
        ["NegativeLogLikelihood"] = () => ImageCase(new NegativeLogLikelihoodScorer(ScoringFlowsFor(noise: true), LikelihoodUnit.Nats, chunkSize: 5, ScoringNoise.Seeded(4), ownsFlow: true)),
        ["Typicality"] = () => ImageCase(new TypicalityScorer(ScoringFlowsFor(noise: true), entropy: 41.5, chunkSize: 3, ScoringNoise.SeededStream(2), ownsFlow: true)),
        ["TwoSided"] = () => ImageCase(new TwoSidedScorer(new NegativeLogLikelihoodScorer(ScoringFlowsFor(), LikelihoodUnit.Nats, ownsFlow: true), center: 3.5, scale: 2, ownsInner: true)),
        ["Dose"] = () => ImageCase(OwnedDose()),
        ["Waic"] = () => ImageCase(new WaicScorer([ScoringFlowsFor(seed: 1), ScoringFlowsFor(seed: 2)], chunkSize: 4, ownsFlows: true)),
        ["LikelihoodRatio"] = () => ImageCase(new LikelihoodRatioScorer(ScoringFlowsFor(seed: 3), ScoringFlowsFor(seed: 4), chunkSize: 2, ownsFlows: true)),
        ["LocalLikelihoodRatio"] = () => ImageCase(new LocalLikelihoodRatioScorer(ScoringFlowsFor(seed: 5), Scoring.ScoringFlows.CreateLocal(seed: 6), chunkSize: 3, ScoringNoise.Seeded(2), ownsFlows: true)),
        ["Stirring"] = () => ImageCase(new StirringScorer(ScoringFlowsFor(noise: true, seed: 5), median: -30.5, medianAbsoluteDeviation: 4.25, StirringTransforms.QuadrantDerangements, conditionalCorrection: true, chunkSize: 4, ScoringNoise.Seeded(6), ownsFlow: true)),
        ["ScoreDensity"] = () => ImageCase(OwnedScoreDensity()),
        ["RotationPrediction"] = () => ImageCase(Scoring.RotationPredictionScorerTests.TrainTiny(Scoring.ScoringFlows.EightBitImages(8, ScalarType.Float32), seed: 9)),
        ["InputComplexity"] = () => ImageCase(new InputComplexityScorer(ScoringFlowsFor(), new DeflateCompressor(), chunkSize: 3, ScoringNoise.BinCentres, ownsFlow: true)),
        ["FeatureSpace"] = () => new ScorerCase(
            new FeatureSpaceScorer(
                Features,
                TabularRealNvp.Create(4, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 }),
                new FeatureStandardizer([0.5, 0.4, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]),
                chunkSize: 3,
                ownsFlow: true),
            Scoring.ScoringFlows.EightBitImages(6, ScalarType.Float32),
            LoadOptions with { Catalog = LoadOptions.Catalog.WithFeatureExtractor(Features) }),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Fact]
    public void EveryPublicComponentType_HasARoundTripCase_OrIsListedAsNotPersistable()
    {
        var types = typeof(NormalizingFlow).Assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && !t.IsInterface && Kinds.Any(k => k.IsAssignableFrom(t)))
            .ToArray();
        types.Should().Contain(typeof(CheckerboardMask), "the scan must find FlowOod's components");

        var missing = types
            .Where(t => !NotPersistable.ContainsKey(t))
            .Where(t => !ComponentCatalog.BuiltIn.ComponentTypes.Contains(t) || !Cases.ContainsKey(ComponentCatalog.NameOf(t)))
            .Select(t => t.FullName)
            .ToArray();
        missing.Should().BeEmpty("every public component type needs a save/load case in ComponentRegistryTests.Cases or a reason in NotPersistable");

        var unnamedBuiltIns = ComponentCatalog.BuiltIn.ComponentTypes.Where(t => !Cases.ContainsKey(ComponentCatalog.NameOf(t))).Select(t => t.FullName).ToArray();
        unnamedBuiltIns.Should().BeEmpty("every built-in component (public or not) needs a save/load case");
        NotPersistable.Keys.Should().NotIntersectWith(ComponentCatalog.BuiltIn.ComponentTypes, "a type is either persistable or not");
    }

    [Fact]
    public void NotPersistableTypes_MakeTheFlowUnsaveable_WithAMessage()
    {
        using var folder = new TempFolder();
        var mask = new CustomMask((shape, layer) => CheckerboardMask.Instance.Create(shape, layer));
        using var flow = SingleScale(mask, new ResNetConditionerFactory(4, 1));
        flow.Architecture.Should().BeNull();
        var act = () => ModelFile.Save(flow, folder.Combine("custom.flowood"));
        act.Should().Throw<NotSupportedException>().WithMessage("*does not describe itself*CustomMask*IComponent<TSelf>*");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Case_SavesAndLoads_WithIdenticalScores(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        random.manual_seed(31);
        var subject = Cases[name]();
        var path = folder.Combine("case.flowood");
        if (subject is NormalizingFlow flow)
        {
            var description = flow.Architecture!;
            (description.Builder == name || description.Options.Contains($"\"type\":\"{name}\"", StringComparison.Ordinal))
                .Should().BeTrue($"the case for \"{name}\" must use it; its description is {description}");
            var batch = ComponentCodecTests.Prepare(flow, tabular: flow.EventShape.Count == 1);
            ModelFile.Save(flow, path);
            using var loaded = ModelFile.LoadFlow(path, LoadOptions);
            loaded.Architecture!.Options.Should().Be(description.Options);
            ComponentCodecTests.Nll(loaded, batch).Should().Equal(ComponentCodecTests.Nll(flow, batch));
            flow.Dispose();
        }
        else
        {
            var (scorer, batch, options) = (ScorerCase)subject;
            using var original = scorer;
            ModelFile.Save(scorer, path);
            var content = ModelFileSurgery.Open(System.IO.File.ReadAllBytes(path)).HeaderJson["content"]!.AsObject();
            (content["type"]!.GetValue<string>() == name || content.ToJsonString().Contains($"\"{name}\"", StringComparison.Ordinal))
                .Should().BeTrue($"the case for \"{name}\" must use it; the stored scorer is {content.ToJsonString()}");
            using var loaded = ModelFile.LoadScorer(path, options);
            loaded.GetType().Should().Be(scorer.GetType());
            if (loaded is TwoSidedScorer twoSided)
            {
                twoSided.OwnsInner.Should().BeTrue("a loaded two-sided scorer owns the scorer it read");
            }

            if (loaded is ScoreDensityScorer density)
            {
                density.OwnsMembers.Should().BeTrue("a loaded score density owns the scorers it read");
                density.Members.Cast<FlowScorer>().Should().OnlyContain(m => m.OwnsFlows, "a loaded scorer owns the flows it read");
            }
            else if (loaded is not RotationPredictionScorer) // a scorer with no flow: it owns its network (disposed with it)
            {
                ((FlowScorer)(loaded is TwoSidedScorer wrapper ? wrapper.Inner : loaded)).OwnsFlows.Should().BeTrue("a loaded scorer owns the flows it read");
            }
            if (loaded is InputComplexityScorer complexity && name is "PNG" or "Deflate")
            {
                ComponentCatalog.NameOf(complexity.Compressor.GetType()).Should().Be(name);
            }

            loaded.Score(batch).Should().Equal(scorer.Score(batch));
        }
    }

    private static NormalizingFlow SingleScale(IMaskStrategy mask, IConditionerFactory conditioner) =>
        SingleScaleRealNvp.Create([1, 4, 4], new SingleScaleRealNvpOptions { Mask = mask, Couplings = 2, Conditioner = conditioner });

    private static NormalizingFlow ScoringFlowsFor(bool noise = false, long seed = 99) => Scoring.ScoringFlows.CreatePrepared(noise, ScalarType.Float32, seed);

    // A DoSE scorer fitted on 8 images that owns its flow, as the other cases' scorers do.
    private static DoseScorer OwnedDose()
    {
        var flow = ScoringFlowsFor(noise: true);
        using var fitted = DoseScorer.Fit(flow, Scoring.ScoringFlows.EightBitImages(8, ScalarType.Float32), chunkSize: 3, ScoringNoise.Seeded(5));
        return new DoseScorer(flow, fitted.FittedStatistics, fitted.ChunkSize, fitted.Noise, ownsFlow: true);
    }

    private static ScoreDensityScorer OwnedScoreDensity()
    {
        var full = ScoringFlowsFor(noise: true, seed: 7);
        IOodScorer[] members =
        [
            new NegativeLogLikelihoodScorer(full, chunkSize: 4, noise: ScoringNoise.Seeded(3)),
            new LocalLikelihoodRatioScorer(full, Scoring.ScoringFlows.CreateLocal(seed: 8), chunkSize: 3, ScoringNoise.Seeded(3), ownsFlows: true),
        ];
        return ScoreDensityScorer.Fit(members, Scoring.ScoringFlows.EightBitImages(8, ScalarType.Float32), ownsMembers: true);
    }

    private static ScorerCase ImageCase(IOodScorer scorer) => new(scorer, Scoring.ScoringFlows.EightBitImages(6, ScalarType.Float32), LoadOptions);

    private static Tensor Features(Tensor batch) => batch.flatten(1).narrow(1, 0, 4).Times(3);

    private sealed record ScorerCase(IOodScorer Scorer, Tensor Batch, ModelLoadOptions Options);
}
