using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Components;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Onnx;

/// <summary>
/// Every public scorer kind of FlowOod exports to ONNX, or is in the documented list of scorers that cannot
/// (<c>OnnxScorers.NotExportable</c>, each with its reason), and then its export throws a
/// <see cref="NotSupportedException"/> naming it and giving that reason. The scan fails naming any scorer type without a
/// case here. Flows, bijectors, masks, st-network factories and bottlenecks: <see cref="OnnxExportRegistryTests"/>. The
/// numbers are checked against ONNX Runtime in FlowOod.OnnxRuntime.Tests (ScorerExportTests).
/// </summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class OnnxScorerRegistryTests
{
    // Component name (or, for a type outside the catalog, its type name) → a scorer of that kind that owns its parts.
    private static readonly Dictionary<string, Func<IOodScorer>> Cases = new()
    {
        ["NegativeLogLikelihood"] = () => new NegativeLogLikelihoodScorer(Flow(), ownsFlow: true),
        ["Typicality"] = () => new TypicalityScorer(Flow(), 40, ownsFlow: true),
        ["LikelihoodRatio"] = () => new LikelihoodRatioScorer(Flow(), Flow(), ownsFlows: true),
        ["LocalLikelihoodRatio"] = () => new LocalLikelihoodRatioScorer(Flow(), Flow(), ownsFlows: true),
        ["Waic"] = () => new WaicScorer([Flow(), Flow(), Flow()], ownsFlows: true),
        ["TwoSided"] = () => new TwoSidedScorer(new NegativeLogLikelihoodScorer(Flow(), ownsFlow: true), 3, 0.5, ownsInner: true),
        ["Stirring"] = () => new StirringScorer(Flow(), -40, 2, StirringTransforms.QuadrantDerangements, ownsFlow: true),
        ["Dose"] = () => Dose(),
        ["RotationPrediction"] = () => Rotation(),
        ["ScoreDensity"] = () => ScoreDensityScorer.Fit([Dose(), Rotation()], Images(12), ownsMembers: true),
        ["FeatureSpace"] = () => FeatureSpaceScorer.FitOnFeatures(randn(32, 4), new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
            Training = new TrainingOptions { Steps = 2, BatchSize = 16, Seed = 1 },
        }),
        ["InputComplexity"] = () => new InputComplexityScorer(Flow(), ownsFlow: true),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Fact]
    public void EveryPublicScorerType_HasAnExportCase()
    {
        var types = typeof(NormalizingFlow).Assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && !t.IsInterface && typeof(IOodScorer).IsAssignableFrom(t))
            .Concat(ComponentCatalog.BuiltIn.ComponentTypes.Where(t => typeof(IOodScorer).IsAssignableFrom(t)))
            .Distinct()
            .ToArray();
        types.Should().Contain([typeof(DoseScorer), typeof(RotationPredictionScorer), typeof(ScoreDensityScorer)], "the scan must find FlowOod's scorers");

        var missing = types.Where(t => !Cases.ContainsKey(CaseName(t))).Select(t => t.FullName).ToArray();

        missing.Should().BeEmpty("every public scorer kind needs an ONNX export case in OnnxScorerRegistryTests.Cases (exportable, or in OnnxScorers.NotExportable with its reason)");
        OnnxScorers.NotExportable.Keys.Should().OnlyContain(t => types.Contains(t), "the cannot-export list names public built-in scorers only");
        OnnxScorers.NotExportable.Values.Should().OnlyContain(reason => reason.Length > 40, "each entry says why it cannot be exported");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Case_Exports_OrThrowsNamingWhyItCannot(string name)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(23);
        using var scorer = Cases[name]();

        var act = () => OnnxExport.ToBytes(scorer);

        if (OnnxScorers.NotExportable.TryGetValue(scorer.GetType(), out var reason))
        {
            act.Should().Throw<NotSupportedException>().Which.Message.Should().Contain(scorer.GetType().FullName).And.Contain(reason);
        }
        else
        {
            act().Length.Should().BeGreaterThan(100);
            var batch = scorer is FeatureSpaceScorer ? randn(4, 4) : Images(4);
            scorer.Score(batch).Should().OnlyContain(s => !double.IsNaN(s), "exporting reads the scorer and leaves it usable");
        }
    }

    [Fact]
    public void Export_ADetectorOfANonExportableScorer_NamesTheScorer()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(24);
        using var detector = OodDetector.Calibrate(new InputComplexityScorer(Flow(), ownsFlow: true), Images(40), 0.1, ownsScorer: true);

        var act = () => OnnxExport.ToBytes(detector);

        act.Should().Throw<NotSupportedException>().WithMessage($"*{typeof(InputComplexityScorer).FullName}*compress*");
    }

    [Fact]
    public void Export_AScoreDensityOverAUserScorer_NamesTheUserScorer()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(25);
        using var density = new ScoreDensityScorer([new NegativeLogLikelihoodScorer(Flow(), ownsFlow: true), new UserScorer()], [[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]], ownsMembers: true);

        var act = () => OnnxExport.ToBytes(density);

        act.Should().Throw<NotSupportedException>().WithMessage($"*{typeof(UserScorer).FullName}*not one of FlowOod's built-in scorers*");
    }

    private static string CaseName(Type type) =>
        ComponentCatalog.BuiltIn.ComponentTypes.Contains(type) ? ComponentCatalog.NameOf(type) : type.Name;

    private static NormalizingFlow Flow()
    {
        var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
        flow.eval();
        return flow;
    }

    // 8-bit images in [0, 1], [count, 1, 4, 4].
    private static Tensor Images(int count) => rand(count, 1, 4, 4).mul_(C.Levels).round_().div_(C.Levels);

    private static DoseScorer Dose()
    {
        var flow = Flow();
        using var fitted = DoseScorer.Fit(flow, Images(12));
        return new DoseScorer(flow, fitted.FittedStatistics, ownsFlow: true);
    }

    private static RotationPredictionScorer Rotation() =>
        RotationPredictionScorer.Train(Images(16), new RotationPredictionOptions { Width = 2, Hidden = 4, Steps = 1, BatchSize = 8 });

    private sealed class UserScorer : IOodScorer
    {
        public string Name => "user score";

        public double[] Score(Tensor batch) => new double[batch.shape[0]];

        public void Dispose()
        {
        }
    }

    private static class C
    {
        public static readonly Scalar Levels = 255.0.ToScalar();
    }
}
