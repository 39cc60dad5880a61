using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Training;
using FlowOod.Tests.Shared;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// The scorers whose score the exported graph computes itself (output "score"): the default detector of
/// <see cref="ImageDetectors.Fit"/> (a score density over DoSE and rotation prediction), saved as a model file, exported
/// with <see cref="OnnxExport.WriteModelFile"/> and served by <see cref="OnnxFlowModel"/> gives identical verdicts and
/// p-values on 2,000 images, its members' scores within 1e-4 (relative, or absolute below 1) and the density's within
/// 1e-3; every other exportable scorer kind agrees within 1e-4 on 600 images.
/// </summary>
[Collection(TorchGlobalState.Name)]
public sealed class ScorerExportTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;

    // The score density over DoSE and rotation prediction: its members' float32 differences, magnified (see the test).
    private const double DensityTolerance = 1e-3;
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-onnx-scorers-").FullName;

    public static TheoryData<string> Kinds => new("Dose", "RotationPrediction", "Typicality", "LikelihoodRatio", "LocalLikelihoodRatio", "Waic", "TwoSided", "StirringSymmetries", "StirringQuadrants", "NegativeLogLikelihoodNats");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void DefaultImageDetector_2000Images_SameScoresAndVerdicts()
    {
        random.manual_seed(401);
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        using var detector = ImageDetectors.Fit(Oriented(800, seed: 41), TinyDetector(ImageScore.DoseAndRotation));
        detector.Scorer.Should().BeOfType<ScoreDensityScorer>("the default score is the density of DoSE and rotation prediction");
        var modelPath = Path.Combine(folder, "detector.flowood");
        var onnxPath = Path.Combine(folder, "detector.onnx");
        ModelFile.Save(detector, modelPath);

        OnnxExport.WriteModelFile(modelPath, onnxPath).Should().Be("detector");
        using var model = OnnxFlowModel.Load(onnxPath);

        model.Kind.Should().Be("detector");
        model.ScoreUnit.Should().Be(OnnxExport.ScoreOutput);
        model.ScorerName.Should().Be(detector.Scorer.Name);
        model.HasLogLikelihood.Should().BeTrue("DoSE's flow gives the graph its log-likelihood output");
        model.Threshold.Should().Be(detector.Threshold);
        model.CalibrationScores.Should().Equal(detector.CalibrationScores);
        var inputs = Inputs(seed: 42);
        var expected = detector.Predict(inputs);
        var actual = model.Predict(inputs.contiguous().data<float>().ToArray());

        // Each member agrees within 1e-4 (relative, absolute below 1); the density over them standardises each member by
        // its in-distribution spread s_j and its bandwidth h_j, so it magnifies the members' float32 differences by about
        // |u − u_i|/(h_j²·s_j), here ≈ 20 for DoSE (whose statistics cancel log-determinants of hundreds of nats).
        var density = (ScoreDensityScorer)detector.Scorer;
        var memberErrors = density.Members.Select(member =>
        {
            using var memberModel = OnnxFlowModel.Load(OnnxExport.ToBytes(member));
            return MaxError(memberModel.Score(inputs.contiguous().data<float>().ToArray()), member.Score(inputs));
        }).ToArray();

        var error = MaxError(actual.Select(p => p.Score).ToArray(), expected.Select(p => p.Score).ToArray());
        output.WriteLine(
            $"DoSE + rotation detector: max relative |Δ| = {error:E2} (DoSE {memberErrors[0]:E2}, rotation {memberErrors[1]:E2}), {actual.Count(p => p.IsOutOfDistribution)} flagged of 2000, {watch.Elapsed.TotalSeconds:F1} s");
        DecisionAgreement.ShouldAgree(actual, expected, model.CalibrationScores, "the verdicts at the calibrated threshold must be the same");
        actual.Count(p => p.IsOutOfDistribution).Should().BeInRange(400, 700, "the noise and rotated images are mostly flagged, about 5% of the others");
        memberErrors.Should().OnlyContain(e => e < Tolerance);
        error.Should().BeLessThan(DensityTolerance);
    }

    [Fact]
    public void RotationOnlyDetector_HasNoLogLikelihood_AndGivesTheSameVerdicts()
    {
        random.manual_seed(402);
        using var scope = NewDisposeScope();
        using var detector = ImageDetectors.Fit(Oriented(400, seed: 43), TinyDetector(ImageScore.RotationPrediction));
        using var model = OnnxFlowModel.Load(OnnxExport.ToBytes(detector));
        var inputs = Inputs(seed: 44);
        var values = inputs.contiguous().data<float>().ToArray();

        var expected = detector.Predict(inputs);
        var actual = model.Predict(values);

        model.HasLogLikelihood.Should().BeFalse();
        model.Invoking(m => m.LogLikelihood(values)).Should().Throw<InvalidOperationException>().WithMessage("*no flow*");
        model.EventShape.Should().Equal(1, 8, 8);
        model.InputRange.Should().Be((0.0, 1.0));
        MaxError(actual.Select(p => p.Score).ToArray(), expected.Select(p => p.Score).ToArray()).Should().BeLessThan(Tolerance);
        DecisionAgreement.ShouldAgree(actual, expected, model.CalibrationScores, "the same rotation detector");
        model.Invoking(m => m.Score(new float[64 * 2].Select(_ => 2f).ToArray())).Should().Throw<ArgumentException>().WithMessage("*[0, 1]*");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Scorer_600Images_SameScores(string kind)
    {
        random.manual_seed(403);
        using var scope = NewDisposeScope();
        var train = Oriented(256, seed: 45);
        var heldOut = Oriented(100, seed: 46);
        NormalizingFlow Flow(int seed) => FlowExportTests.Trained(RealNvp.Create([1, 8, 8], RealNvpOptions.Compact with { Width = 4 + seed, Blocks = 1 }), train);
        using IOodScorer scorer = kind switch
        {
            "Dose" => Owning(Flow(0), flow => DoseScorer.Fit(flow, heldOut), (flow, f) => new DoseScorer(flow, f.FittedStatistics, ownsFlow: true)),
            "RotationPrediction" => RotationPredictionScorer.Train(train, TinyRotation),
            "Typicality" => new TypicalityScorer(Flow(0), 150, ownsFlow: true),
            "LikelihoodRatio" => new LikelihoodRatioScorer(Flow(0), Flow(1), ownsFlows: true),
            "LocalLikelihoodRatio" => new LocalLikelihoodRatioScorer(Flow(0), Flow(2), ownsFlows: true),
            "Waic" => new WaicScorer([Flow(0), Flow(1), Flow(2)], ownsFlows: true),
            "TwoSided" => TwoSidedScorer.Fit(new NegativeLogLikelihoodScorer(Flow(0), ownsFlow: true), heldOut, ownsInner: true),
            "StirringSymmetries" => Owning(Flow(0), flow => StirringScorer.Fit(flow, heldOut), (flow, f) => new StirringScorer(flow, f.Median, f.MedianAbsoluteDeviation, ownsFlow: true)),
            "StirringQuadrants" => Owning(
                Flow(0),
                flow => StirringScorer.Fit(flow, heldOut, StirringTransforms.QuadrantDerangements),
                (flow, f) => new StirringScorer(flow, f.Median, f.MedianAbsoluteDeviation, StirringTransforms.QuadrantDerangements, ownsFlow: true)),
            _ => new NegativeLogLikelihoodScorer(Flow(0), LikelihoodUnit.Nats, ownsFlow: true),
        };
        using var model = OnnxFlowModel.Load(OnnxExport.ToBytes(scorer));
        var inputs = Inputs(seed: 47).narrow(0, 1200, 600); // 300 in-distribution, 300 noise or rotated

        var expected = scorer.Score(inputs);
        var actual = model.Score(inputs.contiguous().data<float>().ToArray());

        // Stirring and WAIC cancel log-densities of hundreds of nats, each carrying float32's rounding (≈ 10⁻⁵ nats per
        // ulp, in libtorch and ONNX Runtime alike): their error is relative to the magnitudes they cancel, the score's
        // condition number with respect to relative changes of the log-densities.
        var scale = scorer switch
        {
            StirringScorer stirring => model.LogLikelihood(inputs.contiguous().data<float>().ToArray()).Select(l => 2 * stirring.TransformCount * Math.Abs(l)).ToArray(),
            WaicScorer waic => WaicCondition(waic.LogLikelihoods(inputs)),
            _ => null,
        };
        var error = MaxError(actual, expected, scale);
        output.WriteLine($"{kind}: max relative |Δ| = {error:E2}, scores {expected.Min():G4} … {expected.Max():G4}");
        model.Kind.Should().Be("scorer");
        model.ScoreUnit.Should().Be(kind == "NegativeLogLikelihoodNats" ? "nll_nats" : OnnxExport.ScoreOutput);
        error.Should().BeLessThan(Tolerance);
    }

    [Fact]
    public void ScoreDensity_ExportsEachFlowOnce()
    {
        random.manual_seed(404);
        using var scope = NewDisposeScope();
        var train = FlowExportTests.Images(64, seed: 48);
        var flow = FlowExportTests.Trained(RealNvp.Create([1, 8, 8], RealNvpOptions.Compact with { Width = 4, Blocks = 1 }), train);
        using var nll = new NegativeLogLikelihoodScorer(flow, ownsFlow: true);
        using var typicality = new TypicalityScorer(flow, 150);
        using var one = new ScoreDensityScorer([nll], [[1.0, 2.0, 4.0]]);
        using var two = new ScoreDensityScorer([nll, typicality], [[1.0, 2.0, 4.0], [0.0, 1.0, 3.0]]);

        var single = OnnxExport.ToBytes(one).Length;
        var both = OnnxExport.ToBytes(two).Length;

        both.Should().BeLessThan(single + 2000, "the second member reuses the flow's log-likelihood instead of writing the flow's weights again");
    }

    // Σ_k |∂score/∂ℓ_k|·|ℓ_k| for score = Var_k ℓ_k − mean_k ℓ_k: (2/(K − 1))·Σ_k |ℓ_k − m|·|ℓ_k| + mean_k |ℓ_k|.
    private static double[] WaicCondition(double[][] logLikelihoods)
    {
        var k = logLikelihoods.Length;
        return Enumerable.Range(0, logLikelihoods[0].Length).Select(i =>
        {
            var column = logLikelihoods.Select(l => l[i]).ToArray();
            var mean = column.Average();
            return (2.0 / (k - 1) * column.Sum(l => Math.Abs(l - mean) * Math.Abs(l))) + column.Average(Math.Abs);
        }).ToArray();
    }

    // Absolute error where |expected| ≤ 1, relative above (or relative to scale[i] when larger).
    private static double MaxError(double[] actual, double[] expected, double[]? scale = null) =>
        Enumerable.Range(0, actual.Length).Max(i => Math.Abs(actual[i] - expected[i]) / Math.Max(Math.Max(1, Math.Abs(expected[i])), scale?[i] ?? 0));

    // 1,500 in-distribution images, 250 of uniform noise and 250 in-distribution images rotated by 90°.
    private static Tensor Inputs(int seed)
    {
        using var scope = NewDisposeScope();
        var noise = rand(new long[] { 250, 1, 8, 8 }, generator: new Generator((ulong)seed)).mul_(C.Levels).round_().div_(C.Levels);
        var rotated = Oriented(250, seed: seed + 1).rot90(1, (2, 3));
        return scope.MoveToOuter(cat([Oriented(1500, seed: seed + 2), noise, rotated], 0).contiguous());
    }

    // Images with a faint orientation (FlowExportTests' smooth random fields, which look alike in every rotation, blended
    // with a ramp bright at the top), so that the rotation network learns something but stays unsure: its scores spread
    // over nats. A member whose in-distribution scores all lie within a few float32 ulps of each other (a network that
    // is certain of every rotation scores ≈ 10⁻⁶ nats, quantised at 1.2·10⁻⁷) would make the score density, which
    // standardises each member by its spread, magnify float32 rounding that libtorch and ONNX Runtime do differently.
    private static Tensor Oriented(int count, int seed)
    {
        using var scope = NewDisposeScope();
        var ramp = linspace(1.0, 0.0, 8).reshape(1, 1, 8, 1);
        var blended = FlowExportTests.Images(count, seed).mul_(C.Field).add_(ramp.mul(C.Ramp), C.One);
        return scope.MoveToOuter(blended.mul_(C.Levels).round_().div_(C.Levels));
    }

    private static readonly RotationPredictionOptions TinyRotation = new() { Width = 4, Hidden = 16, Steps = 60, BatchSize = 32, LearningRate = 3e-3, Seed = 1 };

    private static ImageDetectorOptions TinyDetector(ImageScore score) => new()
    {
        Score = score,
        Flow = GlowOptions.Tiny with { Width = 8 },
        Training = new TrainingOptions { Steps = 30, BatchSize = 32, LearningRate = 3e-3, Seed = 1, ProgressInterval = 100 },
        Rotation = TinyRotation,
    };

    // A scorer fitted on a flow it does not own, rebuilt as one that owns it.
    private static IOodScorer Owning<T>(NormalizingFlow flow, Func<NormalizingFlow, T> fit, Func<NormalizingFlow, T, IOodScorer> owning)
        where T : IOodScorer
    {
        using var fitted = fit(flow);
        return owning(flow, fitted);
    }

    private static class C
    {
        public static readonly Scalar Levels = 255.0.ToScalar();
        public static readonly Scalar One = 1.0.ToScalar();
        public static readonly Scalar Field = 0.8.ToScalar();
        public static readonly Scalar Ramp = 0.2.ToScalar();
    }
}
