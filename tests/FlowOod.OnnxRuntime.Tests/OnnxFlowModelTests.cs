using System;
using System.IO;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Shared;
using FluentAssertions;
using Xunit;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// A detector saved as a model file, exported with <see cref="OnnxExport.WriteModelFile"/> and loaded by
/// <see cref="OnnxFlowModel"/>: the same threshold, scores within 1e-4 bits/dim and identical verdicts; bad input is refused.
/// </summary>
[Collection(TorchGlobalState.Name)]
public sealed class OnnxFlowModelTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-onnx-" + Guid.NewGuid().ToString("N"));

    public OnnxFlowModelTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void ExportedDetector_GivesFlowOodsVerdicts()
    {
        random.manual_seed(201);
        using var scope = NewDisposeScope();
        var flow = FlowExportTests.Trained(RealNvp.Create([1, 8, 8], RealNvpOptions.Compact with { Width = 8, Blocks = 1 }), FlowExportTests.Images(256, seed: 1));
        using var detector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(flow, ownsFlow: true), FlowExportTests.Images(200, seed: 20), 0.05, ownsScorer: true);
        var modelPath = Path.Combine(folder, "detector.flowood");
        var onnxPath = Path.Combine(folder, "detector.onnx");
        ModelFile.Save(detector, modelPath);

        OnnxExport.WriteModelFile(modelPath, onnxPath).Should().Be("detector");
        using var model = OnnxFlowModel.Load(onnxPath);

        model.Kind.Should().Be("detector");
        model.Threshold.Should().Be(detector.Threshold);
        model.CalibrationScores.Should().Equal(detector.CalibrationScores);
        model.TargetFalsePositiveRate.Should().Be(0.05);
        var inDistribution = FlowExportTests.Images(300, seed: 21);
        var outOfDistribution = rand(new long[] { 200, 1, 8, 8 }, generator: new Generator(22)).mul_(C255).round_().div_(C255);
        var batch = cat([inDistribution, outOfDistribution], 0);
        var expected = detector.Predict(batch);
        var actual = model.Predict(batch.contiguous().data<float>().ToArray());

        DecisionAgreement.ShouldAgree(actual, expected, model.CalibrationScores, "ONNX Runtime must give the same verdicts");
        actual.Count(p => p.IsOutOfDistribution).Should().BeInRange(150, 500 - 5, "the uniform noise images are flagged, the test images mostly not");
        actual.Zip(expected, (a, e) => Math.Abs(a.Score - e.Score)).Max().Should().BeLessThan(1e-4);
    }

    [Fact]
    public void Score_BadInput_IsRefusedWithTheReason()
    {
        random.manual_seed(202);
        using var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
        flow.eval();
        using var model = OnnxFlowModel.Load(OnnxExport.ToBytes(flow));

        model.Kind.Should().Be("flow");
        model.EventShape.Should().Equal(1, 4, 4);
        model.InputRange.Should().Be((0.0, 1.0));
        model.Invoking(m => m.Score(new float[17])).Should().Throw<ArgumentException>().WithMessage("*16 values each*17*").Which.ParamName.Should().Be("inputs");
        model.Invoking(m => m.Score([])).Should().Throw<ArgumentException>();
        var nan = new float[16];
        nan[3] = float.NaN;
        model.Invoking(m => m.Score(nan)).Should().Throw<ArgumentException>().WithMessage("*NaN*");
        var outside = new float[16];
        outside[0] = 1.5f;
        model.Invoking(m => m.Score(outside)).Should().Throw<ArgumentException>().WithMessage("*[0, 1]*1.5*");
        model.Invoking(m => m.Predict(new float[16])).Should().Throw<InvalidOperationException>().WithMessage("*not a detector*");
        model.Score(new float[32]).Should().HaveCount(2).And.OnlyContain(s => double.IsFinite(s));
        FluentActions.Invoking(() => OnnxFlowModel.Load([1, 2, 3])).Should().Throw<ArgumentException>().WithMessage("*cannot load*");
        model.Dispose();
        model.Invoking(m => m.Score(new float[16])).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Score_FromManyThreads_GivesTheSingleThreadedScores()
    {
        random.manual_seed(203);
        using var scope = NewDisposeScope();
        var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny with { Width = 8 });
        var images = FlowExportTests.Images(64, seed: 30);
        ActNorm.InitializeAll(flow, images);
        flow.eval();
        using var model = OnnxFlowModel.Load(OnnxExport.ToBytes(flow), intraOpThreads: 1);
        var inputs = images.contiguous().data<float>().ToArray();
        var expected = model.Score(inputs);

        var results = new double[16][];
        System.Threading.Tasks.Parallel.For(0, results.Length, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = model.Score(inputs));

        results.Should().AllSatisfy(r => r.Should().Equal(expected));
        model.Kind.Should().Be("flow");
        model.ScoreUnit.Should().Be("bits_per_dim");
    }

    [Fact]
    public void Export_AScorerWithRandomNoise_IsRefused()
    {
        random.manual_seed(204);
        using var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
        using var scorer = new NegativeLogLikelihoodScorer(flow, noise: ScoringNoise.Random);

        var act = () => OnnxExport.Write(scorer, Path.Combine(folder, "scorer.onnx"));

        act.Should().Throw<NotSupportedException>().WithMessage("*Random*BinCentres*");
    }

    private static readonly Scalar C255 = 255.0.ToScalar();
}
