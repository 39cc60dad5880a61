using System;
using System.IO;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Models;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// Experiment 4 (changing the biases): the matched-bits/dim interpolation on hand-computed cases, option parsing, and a
// tiny end-to-end run. The run needs the datasets (./build.sh test prepares them).
public sealed class BiasesExperimentTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-biases-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static readonly BiasesCheckpoint[] A = [new(1, 5.0, 0.3), new(2, 4.0, 0.4), new(3, 3.0, 0.5)];
    private static readonly BiasesCheckpoint[] B = [new(1, 6.0, 0.6), new(2, 4.5, 0.7), new(3, 3.5, 0.9)];

    [Fact]
    public void Level_IsTheLargestOfTheModelsBestBitsPerDim()
    {
        // A reaches 3.0, B only 3.5: 3.5 is the lowest level both reached.
        MatchedBitsPerDim.Level([A, B]).Should().Be(3.5);
    }

    [Fact]
    public void AurocAt_InterpolatesLinearlyOnTheFirstSegmentThatReachesTheLevel()
    {
        // A: 3.5 lies halfway between 4.0 (AUROC 0.4) and 3.0 (0.5) → 0.45. B reaches 3.5 at its last checkpoint → 0.9.
        MatchedBitsPerDim.AurocAt(A, 3.5).Should().BeApproximately(0.45, 1e-12);
        MatchedBitsPerDim.AurocAt(B, 3.5).Should().BeApproximately(0.9, 1e-12);
        // 5.25 lies halfway between 6.0 (0.6) and 4.5 (0.7) on B's first segment.
        MatchedBitsPerDim.AurocAt(B, 5.25).Should().BeApproximately(0.65, 1e-12);
    }

    [Fact]
    public void AurocAt_UsesTheFirstCrossingAndHandlesEdgeCases()
    {
        // Bits/dim goes 5 → 2 → 4 → 2: the level 3.5 is first reached between steps 1 and 2 (AUROC 0.1 → 0.4, halfway:
        // 0.25), not on the later crossings.
        BiasesCheckpoint[] wiggly = [new(1, 5.0, 0.1), new(2, 2.0, 0.4), new(3, 4.0, 0.8), new(4, 2.0, 0.9)];
        MatchedBitsPerDim.AurocAt(wiggly, 3.5).Should().BeApproximately(0.1 + (0.3 * 0.5), 1e-12);
        MatchedBitsPerDim.AurocAt(A, 6.0).Should().Be(0.3, "the first checkpoint is already below the level");
        MatchedBitsPerDim.AurocAt(A, 2.0).Should().Be(double.NaN, "A never reaches 2.0");
        MatchedBitsPerDim.Level([A, Array.Empty<BiasesCheckpoint>()]).Should().Be(double.NaN);
    }

    [Theory]
    [InlineData("10,20,50", new[] { 10, 20, 50 })]
    [InlineData("100", new[] { 100 })]
    [InlineData(" 5, 7", new[] { 5, 7 })]
    public void CheckLatentSizes_AcceptsDistinctPositiveIntegers(string text, int[] expected)
    {
        BiasesExperiment.CheckLatentSizes(text, out var sizes).Should().BeNull();
        sizes.Should().Equal(expected);
    }

    [Theory]
    [InlineData("biases --out x --latent-sizes 10,0", "--latent-sizes must be a comma-separated list of positive integers")]
    [InlineData("biases --out x --latent-sizes 10,abc", "'10,abc'")]
    [InlineData("biases --out x --latent-sizes 10,,20", "--latent-sizes must be")]
    [InlineData("biases --out x --latent-sizes 10,10", "lists 10 twice")]
    [InlineData("biases --out x --latent-sizes 5,-5", "got '5,-5'")]
    [InlineData("biases --out x --budget huge", "huge")]
    [InlineData("biases --out x --steps 0", "--steps must be a positive integer")]
    [InlineData("biases --out x --eval-limit -1", "--eval-limit must be a positive integer")]
    [InlineData("biases --out x --train-images abc", "abc")]
    [InlineData("biases", "--out")]
    public void Run_BadBiasesOption_ExitsWithUsageCode(string commandLine, string expected)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = CliApp.Run(commandLine.Split(' '), output, error, plain: true);

        code.Should().Be(CliApp.Usage);
        error.ToString().Should().Contain(expected);
    }

    [Fact]
    public void Run_BiasesHelp_ListsTheOptions()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        CliApp.Run(["biases", "--help"], output, error, plain: true).Should().Be(CliApp.Success);
        output.ToString().Should().Contain("--latent-sizes").And.Contain("--budget").And.Contain("--eval-limit").And.Contain("--threads");
    }

    [Fact]
    public void Biases_TinyRun_WritesPlotsAndMarkdownWithTheMatchedLevel()
    {
        using var output = new StringWriter();
        var tiny = new ResNetConditionerFactory(width: 4, blocks: 1);
        var options = new BiasesOptions
        {
            OutputDirectory = folder,
            Steps = 3,
            TrainImages = 64,
            EvaluationLimit = 16,
            BatchSize = 8,
            Seed = 3,
            CommandLine = "flowood biases --seed 3 (tiny models)",
            Models =
            [
                new("checkerboard", "tiny checkerboard", BiasesFamily.Baseline, () => SingleScaleRealNvp.Create(
                    [1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = tiny })),
                new("cycle", "tiny cycle-mask", BiasesFamily.Mask, () => SingleScaleRealNvp.Create(
                    [1, 28, 28], SingleScaleRealNvpOptions.RealNvpCycleMask with { Couplings = 2, Conditioner = tiny })),
                new("bottleneck-l4", "tiny bottleneck", BiasesFamily.Bottleneck, () => SingleScaleRealNvp.Create(
                    [1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = new AutoencoderConditionerFactory(4) })),
            ],
        };

        var report = BiasesExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Files.Should().HaveCount(11).And.OnlyContain(f => File.Exists(f));
        PlotTests.PngSize(Path.Combine(folder, "cycle-training.png")).Should().Be((Plots.Width, Plots.Height));
        report.Rows.Select(r => r.Model).Should().Equal("checkerboard", "cycle", "bottleneck-l4");
        // Steps 3, interval max(1, 3 / 8) = 1: a checkpoint after every step.
        report.Rows.Should().OnlyContain(r => r.Checkpoints.Select(c => c.Step).SequenceEqual(Enumerable.Range(1, 3)));
        report.Rows.Should().OnlyContain(r => r.Checkpoints.All(c => double.IsFinite(c.HeldOutBitsPerDim) && c.Auroc >= 0 && c.Auroc <= 1));
        report.Rows.Should().OnlyContain(r => r.Synthetic.Count == SyntheticOodSets.Names.Count && r.Parameters > 0);
        report.Matched.Should().HaveCount(4, "masks: checkerboard + cycle; bottleneck: checkerboard + l4");
        foreach (var comparison in new[] { BiasesExperiment.MasksComparison, BiasesExperiment.BottleneckComparison })
        {
            var members = report.Rows.Where(r => report.Matched.Any(m => m.Comparison == comparison && m.Model == r.Model)).ToList();
            var level = report.Matched.First(m => m.Comparison == comparison).Level;
            level.Should().Be(members.Max(r => r.Checkpoints.Min(c => c.HeldOutBitsPerDim)));
            report.Matched.Where(m => m.Comparison == comparison).Should().OnlyContain(m => m.Auroc >= 0 && m.Auroc <= 1);
        }

        foreach (var plot in new[] { "biases-auroc-vs-bpd", "biases-matched-auroc" })
        {
            PlotTests.PngSize(Path.Combine(folder, plot + ".png")).Should().Be((Plots.Width, Plots.Height));
            File.ReadAllText(Path.Combine(folder, plot + ".svg")).Should().Contain("<svg");
        }

        var page = File.ReadAllText(report.MarkdownPath);
        Path.GetFileName(report.MarkdownPath).Should().Be("biases.md");
        page.Should().StartWith("## Experiment 4: changing the biases (Sec. 7)");
        page.Should().Contain("`flowood biases --seed 3 (tiny models)`").And.Contain("Budget quick: 3 models × 3 steps × 8 images")
            .And.Contain("the lowest held-out bits/dim that every model of the comparison reached")
            .And.Contain("- Matched masks: level").And.Contain("- Matched bottleneck: level")
            .And.Contain("biases-auroc-vs-bpd.png").And.Contain("biases-matched-auroc.png")
            .And.Contain("| inverted |").And.Contain("Machine: CPU").And.Contain("Wall time");
        page.Split('\n').Count(l => l.StartsWith("| checkerboard |", StringComparison.Ordinal)).Should().Be(2, "one row in the main table, one in the synthetic table");
        output.ToString().Should().NotContain("\u001b[");
    }

    [Fact]
    public void Curves_WritesPngOfTheStatedSizeWithTheLegend()
    {
        var path = Path.Combine(folder, "curves");

        Plots.Curves(path, "curves", "x", "y", [("first", [3.0, 2.0, 1.5], [0.2, 0.3, 0.5]), ("second", [4.0, 2.5], [0.9, 0.1])], [("level", 2.5)]);

        PlotTests.PngSize(path + ".png").Should().Be((Plots.Width, Plots.Height));
        var svg = File.ReadAllText(path + ".svg");
        svg.Should().Contain("first").And.Contain("second").And.Contain("level");
    }
}
