using System;
using System.IO;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Cli.Tests;

/// <summary>
/// <c>flowood export-onnx</c>: a saved flow, the default image detector's kind of detector (a score density over DoSE and
/// rotation prediction) and a gate file become ONNX files; a missing or non-exportable model is a failure with the reason.
/// </summary>
public sealed class ExportOnnxTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-export-onnx-" + Guid.NewGuid().ToString("N"));

    public ExportOnnxTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void ExportOnnx_ASavedFlow_WritesTheOnnxFile()
    {
        var model = Path.Combine(folder, "flow.flowood");
        var onnx = Path.Combine(folder, "flow.onnx");
        using (var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 }))
        {
            ModelFile.Save(flow, model);
        }

        var (code, output, error) = Run("export-onnx", "--model", model, "--out", onnx);

        code.Should().Be(CliApp.Success, error);
        output.Should().Contain("Exported the flow").And.Contain(onnx);
        new FileInfo(onnx).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void ExportOnnx_AMissingModel_FailsNamingIt()
    {
        var missing = Path.Combine(folder, "missing.flowood");

        var (code, _, error) = Run("export-onnx", "--model", missing, "--out", Path.Combine(folder, "x.onnx"));

        code.Should().Be(CliApp.Failure);
        error.Should().Contain("missing.flowood");
        File.Exists(Path.Combine(folder, "x.onnx")).Should().BeFalse();
    }

    [Fact]
    public void ExportOnnx_ADoseAndRotationDetector_WritesTheOnnxFile()
    {
        var model = Path.Combine(folder, "detector.flowood");
        var onnx = Path.Combine(folder, "detector.onnx");
        using (var scope = NewDisposeScope())
        {
            var images = Images(60, seed: 1);
            var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
            flow.eval();
            IOodScorer dose;
            using (var fitted = DoseScorer.Fit(flow, images))
            {
                dose = new DoseScorer(flow, fitted.FittedStatistics, ownsFlow: true);
            }

            var rotation = RotationPredictionScorer.Train(images, new RotationPredictionOptions { Width = 2, Hidden = 4, Steps = 2, BatchSize = 16 });
            var density = ScoreDensityScorer.Fit([dose, rotation], images, ownsMembers: true);
            using var detector = OodDetector.Calibrate(density, Images(40, seed: 2), 0.1, ownsScorer: true);
            ModelFile.Save(detector, model);
        }

        var (code, output, error) = Run("export-onnx", "--model", model, "--out", onnx);

        code.Should().Be(CliApp.Success, error);
        output.Should().Contain("Exported the detector");
        new FileInfo(onnx).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void ExportOnnx_AnInputComplexityDetector_FailsWithTheReason()
    {
        var model = Path.Combine(folder, "complexity.flowood");
        using (var scope = NewDisposeScope())
        {
            var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
            flow.eval();
            using var detector = OodDetector.Calibrate(new InputComplexityScorer(flow, ownsFlow: true), Images(40, seed: 3), 0.1, ownsScorer: true);
            ModelFile.Save(detector, model);
        }

        var (code, _, error) = Run("export-onnx", "--model", model, "--out", Path.Combine(folder, "x.onnx"));

        code.Should().Be(CliApp.Failure);
        error.Should().Contain("complexity.flowood").And.Contain("InputComplexityScorer").And.Contain("compress");
        File.Exists(Path.Combine(folder, "x.onnx")).Should().BeFalse();
    }

    [Fact]
    public void ExportOnnx_AGateFile_NeedsTheFeatureOutput_ThenWritesTheGate()
    {
        var model = Path.Combine(folder, "gate.flowood");
        var onnx = Path.Combine(folder, "gate.onnx");
        using (var scope = NewDisposeScope())
        {
            using var classifier = nn.Sequential(("flatten", nn.Flatten()), ("features", nn.Linear(16, 6)), ("relu", nn.ReLU()), ("logits", nn.Linear(6, 3)));
            classifier.eval();
            using var gate = OodGate.Fit(classifier, Images(200, seed: 4), new OodGateOptions
            {
                FeatureLayer = "features",
                TargetFalsePositiveRate = 0.1,
                CalibrationFraction = 0.5,
                FeatureFlow = new FeatureSpaceFitOptions
                {
                    Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                    Training = new TrainingOptions { Steps = 5, BatchSize = 32, Seed = 1 },
                },
                ClassNames = ["a", "b", "c"],
                Seed = 1,
            });
            gate.Save(model);
        }

        var (missingCode, _, missingError) = Run("export-onnx", "--model", model, "--out", onnx);
        var (code, output, error) = Run("export-onnx", "--model", model, "--out", onnx, "--feature-output", "embedding");

        missingCode.Should().Be(CliApp.Failure);
        missingError.Should().Contain("--feature-output").And.Contain("'features'");
        code.Should().Be(CliApp.Success, error);
        output.Should().Contain("Exported the gate");
        new FileInfo(onnx).Length.Should().BeGreaterThan(1000);
    }

    // 8-bit images [count, 1, 4, 4] in [0, 1], from a private generator (the weights come from torch's global one:
    // what these tests check does not depend on them).
    private static Tensor Images(int count, int seed) => rand(new long[] { count, 1, 4, 4 }, generator: new Generator((ulong)seed)).mul_(Levels).round_().div_(Levels);

    private static readonly Scalar Levels = 255.0.ToScalar();

    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(args, output, error, plain: true);
        return (code, output.ToString(), error.ToString());
    }
}
