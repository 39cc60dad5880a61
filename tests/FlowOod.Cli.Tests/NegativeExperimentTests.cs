using System;
using System.IO;
using System.Linq;
using FlowOod.Models;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// Experiment 5 (negative training) end to end at a tiny size with a tiny Glow. Needs the datasets (./build.sh test).
public sealed class NegativeExperimentTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-negative-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Negative_TinyRun_WritesHistogramsRocCurvesAndMarkdown()
    {
        using var output = new StringWriter();
        var options = new NegativeOptions
        {
            OutputDirectory = folder,
            Steps = 2,
            TrainImages = 128,
            EvaluationLimit = 32,
            BatchSize = 16,
            Seed = 3,
            CommandLine = "flowood negative --seed 3 (tiny model)",
            Model = new("glow", "tiny Glow", 1, () => Glow.Create([1, 28, 28], GlowOptions.Tiny)),
        };

        var report = NegativeExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Files.Should().HaveCount(13).And.OnlyContain(f => File.Exists(f));
        PlotTests.PngSize(Path.Combine(folder, "negative-negative-training.png")).Should().Be((Plots.Width, Plots.Height));
        report.Rows.Select(r => r.Model).Should().Equal("maximum likelihood", "negative training");
        report.Rows.Should().OnlyContain(r => r.Results.Count == 7 && double.IsFinite(r.FashionTestBitsPerDim) && double.IsFinite(r.MnistHeldOutBitsPerDim));
        report.Rows.SelectMany(r => r.Results).Should().OnlyContain(r => r.Auroc >= 0 && r.Auroc <= 1 && r.OodScores.Length == 32);
        report.Rows[0].Results[0].OutOfDistribution.Should().Contain("5000");
        foreach (var stem in new[] { "negative-ml-bits-per-dim", "negative-ml-roc", "negative-negative-bits-per-dim", "negative-negative-roc" })
        {
            PlotTests.PngSize(Path.Combine(folder, stem + ".png")).Should().Be((Plots.Width, Plots.Height));
            File.Exists(Path.Combine(folder, stem + ".svg")).Should().BeTrue();
        }

        var page = File.ReadAllText(report.MarkdownPath);
        Path.GetFileName(report.MarkdownPath).Should().Be("negative.md");
        page.Should().StartWith("## Experiment 5: negative training (App. B)");
        page.Should().Contain("| model | bits/dim Fashion test | bits/dim MNIST held-out | AUROC MNIST held-out | AUROC noise |")
            .And.Contain("| maximum likelihood |").And.Contain("| negative training |").And.Contain("disjoint halves")
            .And.Contain("--seed 3").And.Contain("glow 2 steps").And.Contain("bound 55.21 bits/dim").And.Contain("Machine: CPU").And.Contain("Wall time");
        output.ToString().Should().Contain("negatives' loss").And.NotContain("\u001b[");
    }
}
