using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Scoring;
using FlowOod.Training;
using FlowOod.Tests.Shared;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// Issue 23's "done when": a trained compact RealNVP, a Glow and the gate's tabular feature flow, each calibrated as a
/// detector, exported with <see cref="OnnxExport.Write(OodDetector, string, OnnxExportOptions?)"/> and served by
/// <see cref="OnnxFlowModel"/> (ONNX Runtime alone): on 2,000 inputs (1,500 in-distribution, 500 out) the scores agree
/// within 1e-4 bits/dim and the verdicts at the calibrated threshold are identical wherever no calibration score lies
/// between the two scores of an input (<see cref="DecisionAgreement"/>).
/// </summary>
[Collection(TorchGlobalState.Name)]
public sealed class AgreementTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-onnx-agree-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void CompactRealNvp_2000Images_SameBitsPerDimAndVerdicts()
    {
        random.manual_seed(301);
        var flow = RealNvp.Create([1, 8, 8], RealNvpOptions.Compact with { Width = 8, Blocks = 1 });
        AssertAgreement(FlowExportTests.Trained(flow, FlowExportTests.Images(256, seed: 31)), seed: 32);
    }

    [Fact]
    public void Glow_2000Images_SameBitsPerDimAndVerdicts()
    {
        random.manual_seed(302);
        var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny with { Width = 8 });
        AssertAgreement(FlowExportTests.Trained(flow, FlowExportTests.Images(256, seed: 33)), seed: 34);
    }

    [Fact]
    public void TabularFeatureFlow_2000FeatureVectors_SameScoresAndVerdicts()
    {
        random.manual_seed(303);
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        var scorer = FeatureSpaceScorer.FitOnFeatures(Features(800, seed: 35), new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 32 },
            Training = new TrainingOptions { Steps = 150, BatchSize = 64, Seed = 1 },
        });
        using var detector = OodDetector.Calibrate(scorer, Features(400, seed: 36), 0.05, ownsScorer: true);
        var inputs = cat([Features(1500, seed: 37), Features(500, seed: 38).mul_(C.Three)], 0);
        var path = Path.Combine(folder, "features.onnx");
        OnnxExport.Write(detector, path);
        using var model = OnnxFlowModel.Load(path);

        var expected = detector.Predict(inputs);
        var actual = model.Predict(inputs.contiguous().data<float>().ToArray());

        model.Kind.Should().Be("detector");
        model.ScoreUnit.Should().Be("nll_nats");
        model.EventShape.Should().Equal(6);
        // Scores are −log p in nats over D = 6 features; bits/dim = nats / (6 ln 2). The in-distribution scores (a few
        // nats) agree within 1e-4 nats; the scaled vectors' scores are larger and carry float32's relative rounding.
        var nats = actual.Zip(expected, (a, e) => Math.Abs(a.Score - e.Score)).ToArray();
        var bitsPerDim = nats.Max() / (6 * Math.Log(2));
        output.WriteLine($"features: max |Δ| = {nats.Max():E2} nats ({bitsPerDim:E2} bits/dim), in-distribution {nats.Take(1500).Max():E2} nats, {actual.Count(p => p.IsOutOfDistribution)} flagged, {watch.Elapsed.TotalSeconds:F1} s");
        bitsPerDim.Should().BeLessThan(Tolerance);
        nats.Take(1500).Max().Should().BeLessThan(Tolerance, "in-distribution scores agree within 1e-4 nats");
        DecisionAgreement.ShouldAgree(actual, expected, model.CalibrationScores, "the same detector");
        actual.Count(p => p.IsOutOfDistribution).Should().BeInRange(300, 700, "most scaled vectors are flagged, about 5% of the others");
    }

    private void AssertAgreement(NormalizingFlow flow, int seed)
    {
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        using var detector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(flow, ownsFlow: true), FlowExportTests.Images(300, seed: seed), 0.05, ownsScorer: true);
        var noise = rand(new long[] { 500, 1, 8, 8 }, generator: new Generator((ulong)seed + 1)).mul_(C.Levels).round_().div_(C.Levels);
        var inputs = cat([FlowExportTests.Images(1500, seed: seed + 2), noise], 0);
        var path = Path.Combine(folder, "detector.onnx");
        OnnxExport.Write(detector, path);
        using var model = OnnxFlowModel.Load(path);

        var expected = detector.Predict(inputs);
        var actual = model.Predict(inputs.contiguous().data<float>().ToArray());

        model.ScoreUnit.Should().Be("bits_per_dim");
        var difference = actual.Zip(expected, (a, e) => Math.Abs(a.Score - e.Score)).Max();
        output.WriteLine($"{flow.GetType().Name}: max |Δ| = {difference:E2} bits/dim, {actual.Count(p => p.IsOutOfDistribution)} flagged, {watch.Elapsed.TotalSeconds:F1} s");
        difference.Should().BeLessThan(Tolerance);
        DecisionAgreement.ShouldAgree(actual, expected, model.CalibrationScores, "the verdicts at the calibrated threshold must be the same");
        actual.Count(p => p.IsOutOfDistribution).Should().BeInRange(400, 700, "the noise images are flagged, about 5% of the others");
    }

    // Correlated continuous features [count, 6] (a rank-3 mixture plus noise).
    private static Tensor Features(int count, int seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var mixing = randn(new long[] { 3, 6 }, generator: new Generator(7));
        var latent = randn(new long[] { count, 3 }, generator: generator);
        return scope.MoveToOuter(latent.matmul(mixing).add_(randn(new long[] { count, 6 }, generator: generator).mul_(C.Point3), C.One));
    }

    // Cached Scalars (see ScalarMath): a temporary Scalar may be freed during the native call that reads it.
    private static class C
    {
        public static readonly Scalar One = 1.0.ToScalar();
        public static readonly Scalar Three = 3.0.ToScalar();
        public static readonly Scalar Levels = 255.0.ToScalar();
        public static readonly Scalar Point3 = 0.3.ToScalar();
    }
}
