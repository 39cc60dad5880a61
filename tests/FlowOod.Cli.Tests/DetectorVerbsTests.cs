using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FlowOod.Persistence;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// flowood fit-detector, calibrate, and score/evaluate on any saved model: tiny flows (2 steps), few images. Needs the datasets.
public sealed class DetectorVerbsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-detector-verbs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static (int ExitCode, string Output, string Error) Run(string commandLine)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries), output, error, plain: true);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void FitDetector_ThenScoreCalibrateAndEvaluate_MakesAUsableDetectorFile()
    {
        var detectorPath = Path.Combine(folder, "two-sided.flowood");
        var fit = Run($"fit-detector --model {detectorPath} --scorer two-sided --flow realnvp --steps 2 --batch-size 16 --train-images 64 --fit-images 32 --calibration-images 40 --alpha 0.1");

        fit.ExitCode.Should().Be(CliApp.Success, fit.Error + fit.Output);
        fit.Output.Should().Contain("calibrating").And.Contain("40/40 images scored").And.Contain("Saved the detector");
        var info = ModelFile.ReadInfo(detectorPath);
        info.Kind.Should().Be("detector");
        info.Metadata.Should().ContainKey("scorer").WhoseValue.Should().Be("two-sided");
        info.Metadata["calibratedOn"].Should().Be("Fashion-MNIST train 96..135", "calibration starts after the 64 training and 32 fit images");
        using (var detector = ModelFile.LoadDetector(detectorPath))
        {
            detector.TargetFalsePositiveRate.Should().Be(0.1);
            detector.CalibrationScores.Should().HaveCount(40);
            double.IsFinite(detector.Threshold).Should().BeTrue();
        }

        var score = Run($"score --model {detectorPath} --ood fashion-test --ood mnist --limit 24");
        score.ExitCode.Should().Be(CliApp.Success, score.Error);
        score.Output.Should().Contain("(detector)").And.Contain("flagged (p ≤ 0.1)").And.Contain("AUROC").And.Contain("24/24 images scored");

        var recalibrated = Path.Combine(folder, "recalibrated.flowood");
        var calibrate = Run($"calibrate --model {detectorPath} --out {recalibrated} --alpha 0.2 --calibration-images 30");
        calibrate.ExitCode.Should().Be(CliApp.Success, calibrate.Error);
        calibrate.Output.Should().Contain("Threshold").And.Contain("(α = 0.1, 40 scores)").And.Contain("(α = 0.2, 30 scores)");
        using (var detector = ModelFile.LoadDetector(recalibrated))
        {
            detector.TargetFalsePositiveRate.Should().Be(0.2);
            detector.CalibrationScores.Should().HaveCount(30);
        }

        ModelFile.ReadInfo(recalibrated).Metadata["calibratedOn"].Should().Be("Fashion-MNIST train 50000..50029");

        var evaluate = Run($"evaluate --model {recalibrated} --ood noise --eval-limit 20");
        evaluate.ExitCode.Should().Be(CliApp.Success, evaluate.Error);
        evaluate.Output.Should().Contain("AUROC").And.Contain("uniform noise");
    }

    [Fact]
    public void Score_SavedFlowWithScorerComplexity_ScoresWithThatScorer()
    {
        using var output = new StringWriter();
        var console = Terminal.Create(output, plain: true);
        var model = Path.Combine(folder, "flow.flowood");
        var csv = Path.Combine(folder, "scores.csv");
        ModelVerbs.Train(new TrainOptions { ModelPath = model, Flow = "realnvp", Steps = 2, TrainImages = 64, BatchSize = 16 }, console, plain: true);

        var results = ModelVerbs.Score(new ScoreOptions { ModelPath = model, Scorer = "complexity", Sets = ["fashion-test", "mnist"], Limit = 16, CsvPath = csv }, console, plain: true);

        results.Should().ContainSingle().Which.Scorer.Should().Contain("complexity");
        File.ReadAllLines(csv)[0].Should().Be("set,index,score");
        output.ToString().Should().Contain("Input complexity (bits/image, PNG) as an OOD score");

        var evaluate = Run($"evaluate --model {model} --scorer typicality --ood noise --eval-limit 8");
        evaluate.ExitCode.Should().Be(CliApp.Failure);
        evaluate.Error.Should().Contain("--scorer typicality needs more than a saved flow").And.Contain("fit-detector --scorer typicality");
    }

    [Fact]
    public void FitDetector_Waic_TrainsAnEnsemble()
    {
        var path = Path.Combine(folder, "waic.flowood");
        var fit = Run($"fit-detector --model {path} --scorer waic --ensemble 2 --flow realnvp --steps 2 --batch-size 16 --train-images 32 --calibration-images 20 --alpha 0.1");

        fit.ExitCode.Should().Be(CliApp.Success, fit.Error + fit.Output);
        fit.Output.Should().Contain("training ensemble member 2");
        ModelFile.ReadInfo(path).FlowBuilders.Should().HaveCount(2);
    }

    [Fact]
    public void Calibrate_OnAFolderOfPngFiles_UsesThemAndRefusesADamagedOneNamingIt()
    {
        var path = Path.Combine(folder, "nll.flowood");
        Run($"fit-detector --model {path} --scorer nll --flow realnvp --steps 1 --batch-size 16 --train-images 16 --calibration-images 10 --alpha 0.1").ExitCode.Should().Be(CliApp.Success);
        var pngs = Path.Combine(folder, "pngs");
        Directory.CreateDirectory(pngs);
        var test = FlowOod.Samples.FashionMnist.FlowOodDatasets.FashionMnist(FlowOod.Data.DatasetSplit.Test, null);
        var encoder = new FlowOod.Scoring.PngCompressor();
        for (var i = 0; i < 12; i++)
        {
            File.WriteAllBytes(Path.Combine(pngs, $"{i:D3}.png"), encoder.Encode(test.Pixels.Span.Slice(i * 784, 784), 1, 28, 28));
        }

        var calibrate = Run($"calibrate --model {path} --data {pngs} --calibration-images 12");

        calibrate.ExitCode.Should().Be(CliApp.Success, calibrate.Error);
        ModelFile.ReadInfo(path).Metadata["calibratedOn"].Should().Be("pngs (PNG) 0..11");
        File.WriteAllBytes(Path.Combine(pngs, "013.png"), [1, 2, 3]);
        var damaged = Run($"calibrate --model {path} --data {pngs} --calibration-images 12");
        damaged.ExitCode.Should().Be(CliApp.Failure);
        damaged.Error.Should().Contain("--data").And.Contain("013.png");
    }

    [Theory]
    [InlineData("fit-detector --model d.flowood --scorer bogus", "bogus")]
    [InlineData("fit-detector --model d.flowood --alpha 1.5", "--alpha must lie in")]
    [InlineData("fit-detector --model d.flowood --ensemble 1", "--ensemble must be at least 2")]
    [InlineData("fit-detector --model d.flowood --data /no/such/folder", "/no/such/folder")]
    [InlineData("fit-detector", "--model")]
    [InlineData("calibrate --model d.flowood --alpha 0", "--alpha must lie in (0, 1)")]
    [InlineData("calibrate --model d.flowood --start -1", "--start must not be negative")]
    [InlineData("score --model m.flowood --scorer llr", "llr")]
    public void Run_BadOption_ExitsWithUsageCodeNamingTheProblem(string commandLine, string expected)
    {
        var (code, _, error) = Run(commandLine);

        code.Should().Be(CliApp.Usage);
        error.Should().Contain(expected);
    }

    [Fact]
    public void FitDetector_TooFewCalibrationImagesForAlpha_FailsNamingTheOption()
    {
        var (code, _, error) = Run($"fit-detector --model {Path.Combine(folder, "d.flowood")} --steps 1 --train-images 16 --calibration-images 5 --alpha 0.05");

        code.Should().Be(CliApp.Failure);
        error.Should().Contain("--calibration-images 5").And.Contain("at least 20");
    }

    [Fact]
    public void Score_ScorerOptionOnADetectorFile_FailsSayingTheDetectorBringsItsOwn()
    {
        var path = Path.Combine(folder, "nll.flowood");
        Run($"fit-detector --model {path} --scorer nll --flow realnvp --steps 1 --batch-size 16 --train-images 16 --calibration-images 10 --alpha 0.1").ExitCode.Should().Be(CliApp.Success);

        var (code, _, error) = Run($"score --model {path} --scorer complexity");

        code.Should().Be(CliApp.Failure);
        error.Should().Contain("--scorer complexity applies to a flow file").And.Contain("detector");
    }

    [Theory]
    [InlineData("score")]
    [InlineData("evaluate")]
    [InlineData("fit-detector")]
    public void Help_EachOptionShowsOneDefault_AndNoIssueNumbers(string verb)
    {
        var (code, output, _) = Run($"{verb} --help");

        code.Should().Be(CliApp.Success);
        output.Should().NotMatchRegex(@"(?i)\bissue \d");
        foreach (var option in Regex.Split(output, @"\n\s{2}(?=-)"))
        {
            Regex.Count(option, @"(?i)default").Should().BeLessThanOrEqualTo(1, $"'{option.Trim()}' states one default");
        }
    }
}
