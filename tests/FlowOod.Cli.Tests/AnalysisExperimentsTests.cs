using System;
using System.IO;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Models;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// Experiments 2 (latents) and 3 (couplings, co-adaptation) end to end at a tiny size: every file is written, PNGs have
// the stated size. Needs the datasets (./build.sh test prepares them).
public sealed class AnalysisExperimentsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-analysis-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Latents_TinyRun_WritesGridsAndMarkdown()
    {
        using var output = new StringWriter();
        var options = new LatentsOptions
        {
            OutputDirectory = folder,
            Steps = 2,
            TrainImages = 128,
            Draws = 3,
            StatisticsBatch = 4,
            LayoutImages = 12,
            LayoutDraws = 2,
            Seed = 3,
            CommandLine = "flowood latents --seed 3 (tiny models)",
            Models =
            [
                new("realnvp", "tiny RealNVP", 1, () => RealNvp.Create([1, 28, 28], new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 })),
                new("glow", "tiny Glow", 1, () => Glow.Create([1, 28, 28], GlowOptions.Tiny)),
            ],
        };

        var report = LatentsExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Files.Should().HaveCount(9).And.OnlyContain(f => File.Exists(f));
        PlotTests.PngSize(Path.Combine(folder, "glow-training.png")).Should().Be((Plots.Width, Plots.Height));
        // RealNVP (BatchNorm): image + 4 latents per row; Glow (ActNorm, no BatchNorm): image + 2 latents; 2 rows each.
        report.Rows.Count(r => r.Model == "realnvp").Should().Be(8);
        report.Rows.Count(r => r.Model == "glow").Should().Be(4);
        report.Rows.Should().OnlyContain(r => r.MeanAbs > 0 && r.EdgeCorrelation >= -1 && r.EdgeCorrelation <= 1);
        // The layout measure: one summary per model and set over the 12 images, own vs shuffled.
        report.Layout.Select(l => (l.Model, l.Set)).Should().Equal(("realnvp", "Fashion-MNIST test"), ("realnvp", "MNIST test"), ("glow", "Fashion-MNIST test"), ("glow", "MNIST test"));
        report.Layout.Should().OnlyContain(l => l.Images == 12 && l.Draws == 2 && l.Own.P5 <= l.Own.Mean && l.Own.Mean <= l.Own.P95 && l.GainLow <= l.Gain && l.Gain <= l.GainHigh);
        PlotTests.PngSize(Path.Combine(folder, "realnvp-latents.png")).Should().Be(Plots.GridSize(2, 5, rowLabels: true, note: true));
        PlotTests.PngSize(Path.Combine(folder, "glow-latents.png")).Should().Be(Plots.GridSize(2, 3, rowLabels: true, note: true));
        File.Exists(Path.Combine(folder, "glow-latents.svg")).Should().BeTrue();
        var page = File.ReadAllText(report.MarkdownPath);
        Path.GetFileName(report.MarkdownPath).Should().Be("latents.md");
        page.Should().Contain("--seed 3").And.Contain("Budget quick: realnvp 2 steps, glow 2 steps").And.Contain("Machine: CPU")
            .And.Contain("Wall time").And.Contain("realnvp-latents.png").And.Contain("z, BatchNorm batch statistics (mean of 3)").And.Contain("MNIST test digit 0")
            .And.Contain("| model | set | images | layout score, own [5–95%] |").And.Contain("Shuffled null").And.Contain("layout measure on 12 images per set × 2 draws");
        output.ToString().Should().NotContain("\u001b[", "plain output has no ANSI escapes");
    }

    [Fact]
    public void Couplings_TinyRun_WritesGridsTableAndBarChart()
    {
        using var output = new StringWriter();
        var options = new CouplingsOptions
        {
            OutputDirectory = folder,
            Steps = 2,
            TrainImages = 128,
            EvaluationLimit = 16,
            Seed = 3,
            CommandLine = "flowood couplings --seed 3 (tiny model)",
            Model = new("horizontal3", "tiny 3-layer horizontal RealNVP", 1, () => SingleScaleRealNvp.Create(
                [1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new ResNetConditionerFactory(width: 8, blocks: 1) })),
        };

        var report = CouplingsExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Files.Should().HaveCount(9).And.OnlyContain(f => File.Exists(f));
        PlotTests.PngSize(Path.Combine(folder, "horizontal3-training.png")).Should().Be((Plots.Width, Plots.Height));
        report.Rows.Select(r => r.Layer).Should().Equal("coupling 1 (scale 1)", "coupling 2 (scale 1)", "coupling 3 (scale 1)");
        report.Rows.Should().OnlyContain(r => double.IsFinite(r.InDistribution) && double.IsFinite(r.Ood) && r.InDistribution <= 1 && r.Ood <= 1
            && r.InLow <= r.InHigh && r.OodLow <= r.OodHigh);
        report.Checks.Should().HaveCount(5, "layer 1's expectation, then two for each later layer");
        foreach (var set in new[] { "fashion", "mnist" })
        {
            PlotTests.PngSize(Path.Combine(folder, $"horizontal3-couplings-{set}.png")).Should().Be(Plots.GridSize(3, 4, rowLabels: true, note: true));
        }

        PlotTests.PngSize(Path.Combine(folder, "horizontal3-coadaptation.png")).Should().Be((Plots.Width, Plots.Height));
        var page = File.ReadAllText(report.MarkdownPath);
        Path.GetFileName(report.MarkdownPath).Should().Be("couplings.md");
        page.Split('\n').Count(l => l.StartsWith("| coupling ", StringComparison.Ordinal)).Should().Be(3 + 5, "one R² row per coupling, then one row per expectation tested");
        page.Should().Contain("| layer | R² Fashion-MNIST [95% CI] | R² MNIST [95% CI] |").And.Contain("| expectation | rule | measured [95% CI] | held |").And.Contain("Rule (the paper's Sec. 6 expectation").And.Contain("--seed 3").And.Contain("horizontal3 2 steps")
            .And.Contain("horizontal3-coadaptation.png").And.Contain("Wall time");
        output.ToString().Should().Contain("R² MNIST").And.NotContain("\u001b[");
    }
}
