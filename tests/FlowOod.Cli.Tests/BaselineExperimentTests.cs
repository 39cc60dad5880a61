using System;
using System.IO;
using System.Linq;
using FlowOod.Models;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// The baseline experiment end to end at a tiny size (a handful of steps, 64 images per set): every file is written.
// Needs the datasets (./build.sh test prepares them).
public sealed class BaselineExperimentTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-baseline-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Baseline_TinyRun_WritesPlotsAndMarkdown()
    {
        using var output = new StringWriter();

        var options = new BaselineOptions
        {
            OutputDirectory = folder,
            Steps = 2,
            TrainImages = 128,
            EvaluationLimit = 64,
            OodSets = ["mnist", "inverted"],
            Seed = 3,
            CommandLine = "flowood baseline --seed 3 (tiny models)",
            Models =
            [
                new("realnvp", "tiny RealNVP", 1, () => RealNvp.Create([1, 28, 28], new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 })),
                new("glow", "tiny Glow", 1, () => Glow.Create([1, 28, 28], GlowOptions.Tiny)),
            ],
        };

        var report = BaselineExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Results.Should().HaveCount(4);
        report.Results.Should().OnlyContain(r => r.InScores.Length == 64 && r.OodScores.Length == 64);
        report.Files.Should().HaveCount(21).And.OnlyContain(f => File.Exists(f));
        foreach (var model in new[] { "realnvp", "glow" })
        {
            foreach (var plot in new[] { "bits-per-dim", "roc", "training" })
            {
                PlotTests.PngSize(Path.Combine(folder, $"{model}-{plot}.png")).Should().Be((Plots.Width, Plots.Height));
                File.Exists(Path.Combine(folder, $"{model}-{plot}.svg")).Should().BeTrue();
            }

            foreach (var t in new[] { "1.0", "0.7" })
            {
                PlotTests.PngSize(Path.Combine(folder, $"{model}-samples-t{t}.png")).Should().Be(Plots.GridSize(8, 8, rowLabels: true));
                File.Exists(Path.Combine(folder, $"{model}-samples-t{t}.svg")).Should().BeTrue();
            }
        }

        var page = File.ReadAllText(Path.Combine(folder, "baseline.md"));
        page.Should().Contain("MNIST test").And.Contain("inverted Fashion-MNIST test").And.Contain("AUROC")
            .And.Contain("--seed 3").And.Contain("Budget quick: realnvp 2 steps, glow 2 steps").And.Contain("Machine: CPU").And.Contain("Wall time")
            .And.Contain("realnvp-roc.png").And.Contain("glow-training.png").And.Contain("glow-samples-t0.7.png");
        page.Split('\n').Count(l => l.StartsWith("| realnvp", StringComparison.Ordinal) || l.StartsWith("| glow", StringComparison.Ordinal)).Should().Be(4);
        output.ToString().Should().NotContain("\u001b[", "plain output has no ANSI escapes");
    }

    [Fact]
    public void SampleAtTemperature_ZeroTemperatureGivesTheSameImageEveryTime()
    {
        FlowOodRuntime.EnsureAvailable();
        TorchSharp.torch.random.manual_seed(1);
        using var flow = RealNvp.Create([1, 28, 28], new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 });
        flow.eval();

        var cold = BaselineExperiment.SampleAtTemperature(flow, 3, 0.0, seed: 1);
        var warm = BaselineExperiment.SampleAtTemperature(flow, 3, 1.0, seed: 1);

        cold.Length.Should().Be(3 * 28 * 28);
        cold.Should().OnlyContain(x => x >= 0 && x <= 1);
        cold.AsSpan(0, 784).SequenceEqual(cold.AsSpan(784, 784)).Should().BeTrue("z = 0 for every sample at T = 0");
        warm.AsSpan(0, 784).SequenceEqual(warm.AsSpan(784, 784)).Should().BeFalse();
    }
}
