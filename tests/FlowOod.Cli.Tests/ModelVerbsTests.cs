using System;
using System.IO;
using System.Linq;
using FlowOod.Persistence;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// flowood train and flowood score: a tiny training run saved as a model file, reloaded and scored. Needs the datasets.
public sealed class ModelVerbsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-model-verbs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void TrainThenScore_SavesAFlowAndScoresEverySetAgainstTheFirst()
    {
        using var output = new StringWriter();
        var console = Terminal.Create(output, plain: true);
        var model = Path.Combine(folder, "models", "glow.flowood");
        var csv = Path.Combine(folder, "scores.csv");

        ModelVerbs.Train(new TrainOptions { ModelPath = model, Steps = 2, TrainImages = 128, BatchSize = 16, Seed = 3 }, console, plain: true);
        var results = ModelVerbs.Score(new ScoreOptions { ModelPath = model, Sets = ["fashion-test", "mnist", "noise"], Limit = 24, CsvPath = csv }, console, plain: true);

        ModelFile.ReadInfo(model).Metadata.Should().ContainKey("trainedOn").WhoseValue.Should().Be("Fashion-MNIST train");
        results.Select(r => r.OutOfDistribution).Should().HaveCount(2).And.Contain("MNIST test");
        results.Should().OnlyContain(r => r.InScores.Length == 24 && r.OodScores.Length == 24 && r.Auroc >= 0 && r.Auroc <= 1);
        var lines = File.ReadAllLines(csv);
        lines[0].Should().Be("set,index,bits_per_dim");
        lines.Should().HaveCount(1 + (3 * 24));
        lines[1].Should().StartWith("\"Fashion-MNIST test\",0,");
        Directory.GetFiles(folder, "*.tmp-*").Should().BeEmpty();
        output.ToString().Should().Contain("median").And.Contain("uniform noise (24 images, seed 1)").And.Contain("AUROC");
    }

    [Fact]
    public void TrainAndScore_InBf16_SayTheirPrecisionAndScoreCloseToFloat32()
    {
        using var output = new StringWriter();
        var console = Terminal.Create(output, plain: true);
        var model = Path.Combine(folder, "bf16.flowood");

        ModelVerbs.Train(new TrainOptions { ModelPath = model, Steps = 2, TrainImages = 128, BatchSize = 16, Seed = 3, Precision = FlowOod.Precision.ComputePrecision.BFloat16 }, console, plain: true);
        var fp32 = ModelVerbs.Score(new ScoreOptions { ModelPath = model, Sets = ["fashion-test", "mnist"], Limit = 16 }, console, plain: true);
        var bf16 = ModelVerbs.Score(new ScoreOptions { ModelPath = model, Sets = ["fashion-test", "mnist"], Limit = 16, Precision = FlowOod.Precision.ComputePrecision.BFloat16 }, console, plain: true);

        output.ToString().Should().Contain("bf16 st-networks").And.Contain("st-networks in fp32: float32 was requested.").And.Contain("st-networks in bf16: bf16 was requested");
        bf16[0].InScores.Zip(fp32[0].InScores, (a, b) => Math.Abs(a - b)).Average().Should().BeLessThan(0.05);
        bf16[0].InScores.Should().NotEqual(fp32[0].InScores, "the bf16 load really converts the st-networks");
    }

    [Theory]
    [InlineData("score --model m.flowood --precision fp16", "fp16")]
    [InlineData("train", "--model")]
    [InlineData("train --model m.flowood --flow pixelcnn", "pixelcnn")]
    [InlineData("train --model m.flowood --data /no/such/folder", "/no/such/folder")]
    [InlineData("score --model m.flowood --ood nowhere-at-all", "nowhere-at-all")]
    [InlineData("score --model m.flowood --limit 0", "--limit must be a positive integer")]
    public void Run_BadOption_ExitsWithUsageCodeNamingTheProblem(string commandLine, string expected)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = CliApp.Run(commandLine.Split(' '), output, error, plain: true);

        code.Should().Be(CliApp.Usage);
        error.ToString().Should().Contain(expected);
    }

    [Fact]
    public void Score_MissingModelFile_FailsNamingTheFile()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var missing = Path.Combine(folder, "missing.flowood");

        var code = CliApp.Run(["score", "--model", missing], output, error, plain: true);

        code.Should().Be(CliApp.Failure);
        error.ToString().Should().Contain("missing.flowood");
    }
}
