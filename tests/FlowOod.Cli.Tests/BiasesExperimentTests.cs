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
[Collection(SeededBuildsDefinition.Name)]
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

    private BiasesOptions TinyOptions(int seeds) => new()
    {
        OutputDirectory = folder,
        Steps = 3,
        TrainImages = 64,
        EvaluationLimit = 16,
        BatchSize = 8,
        Seed = 3,
        Seeds = seeds,
        CommandLine = "flowood biases --seed 3 (tiny models)",
        Models =
        [
            new("checkerboard", "tiny checkerboard", BiasesFamily.Baseline, () => SingleScaleRealNvp.Create(
                [1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = new ResNetConditionerFactory(width: 4, blocks: 1) })),
            new("cycle", "tiny cycle-mask", BiasesFamily.Mask, () => SingleScaleRealNvp.Create(
                [1, 28, 28], SingleScaleRealNvpOptions.RealNvpCycleMask with { Couplings = 2, Conditioner = new ResNetConditionerFactory(width: 4, blocks: 1) })),
            new("autoencoder", "tiny auto-encoder", BiasesFamily.Unbottlenecked, () => SingleScaleRealNvp.Create(
                [1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = new AutoencoderConditionerFactory(Bottlenecks.NoBottleneck.Instance) })),
            new("bottleneck-l4", "tiny bottleneck", BiasesFamily.Bottleneck, () => SingleScaleRealNvp.Create(
                [1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = new AutoencoderConditionerFactory(4) })),
        ],
    };

    [Fact]
    public void Biases_TinyRun_WritesPlotsAndMarkdownWithTheMatchedLevel()
    {
        using var output = new StringWriter();
        var options = TinyOptions(seeds: 2);

        var report = BiasesExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        // 4 models × 2 seeds × training curve (PNG, SVG) + 2 plots × 2 + biases.md.
        report.Files.Should().HaveCount((8 * 2) + 4 + 1).And.OnlyContain(f => File.Exists(f));
        PlotTests.PngSize(Path.Combine(folder, "cycle-seed4-training.png")).Should().Be((Plots.Width, Plots.Height));
        report.Summaries.Select(s => s.Model.Stem).Should().Equal("checkerboard", "cycle", "autoencoder", "bottleneck-l4");
        report.Runs.Should().HaveCount(8).And.OnlyContain(r => r.Seed == 3 || r.Seed == 4);
        // Steps 3, interval ⌈3 / 8⌉ = 1: a checkpoint after every step.
        report.Runs.Should().OnlyContain(r => r.Checkpoints.Select(c => c.Step).SequenceEqual(Enumerable.Range(1, 3)));
        report.Runs.Should().OnlyContain(r => r.Checkpoints.All(c => double.IsFinite(c.HeldOutBitsPerDim) && c.Auroc >= 0 && c.Auroc <= 1));
        report.Runs.Should().OnlyContain(r => r.Synthetic.Count == SyntheticOodSets.Names.Count && r.Parameters > 0 && r.InScores.Length == 16 && r.MnistScores.Length == 16);
        report.Runs.Where(r => r.Seed == 3).Should().OnlyContain(r => r.Layout != null && r.Layout.Count == 2 && r.Layout[0].Set != r.Layout[1].Set && r.Layout.All(l => l.Images > 0 && l.Draws == 2));
        report.Runs.Where(r => r.Seed == 4).Should().OnlyContain(r => r.Layout == null, "the layout is measured on the first seed");
        report.Summaries.Should().OnlyContain(s => s.AurocInterval.Lower <= s.Auroc.Mean + 1e-9 || s.AurocInterval.Upper >= s.Auroc.Mean - 1e-9);
        // masks: checkerboard + cycle; bottleneck: autoencoder + l4; bottleneck vs ResNet: checkerboard + l4; two seeds each.
        report.Matched.Should().HaveCount(3 * 2 * 2);
        foreach (var group in report.Matched.GroupBy(m => (m.Comparison, m.Seed)))
        {
            var runs = group.Select(m => report.Runs.Single(r => r.Model == m.Model && r.Seed == m.Seed)).ToList();
            group.Should().OnlyContain(m => m.Level == runs.Max(r => r.Checkpoints.Min(c => c.HeldOutBitsPerDim)));
            group.Should().OnlyContain(m => m.Auroc >= 0 && m.Auroc <= 1 && m.Reached > 0 && m.Reached <= 1);
        }

        report.Comparisons.Select(c => (c.Comparison, c.Model, c.Reference)).Distinct().Should().Equal(
            (BiasesExperiment.MasksComparison, "cycle", "checkerboard"),
            (BiasesExperiment.BottleneckComparison, "bottleneck-l4", "autoencoder"),
            (BiasesExperiment.CrossFamilyComparison, "bottleneck-l4", "checkerboard"));
        report.Comparisons.Should().HaveCount(6, "equal budget and matched for each").And.OnlyContain(c => c.Noise >= 0 && double.IsFinite(c.Noise));

        foreach (var plot in new[] { "biases-auroc-vs-bpd", "biases-matched-auroc" })
        {
            PlotTests.PngSize(Path.Combine(folder, plot + ".png")).Should().Be((Plots.Width, Plots.Height));
            File.ReadAllText(Path.Combine(folder, plot + ".svg")).Should().Contain("<svg");
        }

        var page = File.ReadAllText(report.MarkdownPath);
        Path.GetFileName(report.MarkdownPath).Should().Be("biases.md");
        page.Should().StartWith("## Experiment 4: changing the biases (Sec. 7)");
        page.Should().Contain("`flowood biases --seed 3 (tiny models)`").And.Contain("Budget quick: 4 models × 2 seeds (3, 4) × 3 steps × 8 images")
            .And.Contain("the lowest held-out bits/dim that every model of the comparison reached")
            .And.Contain("only when |Δ| > 2 × noise").And.Contain("**Latent layout (Sec. 5) of these models** (first seed, 2 draws)")
            .And.Contain("| masks | cycle | checkerboard | matched bits/dim |").And.Contain("| bottleneck | bottleneck-l4 | autoencoder | equal budget |")
            .And.Contain("biases-auroc-vs-bpd.png").And.Contain("biases-matched-auroc.png").And.Contain("checkerboard-seed4-training.png")
            .And.Contain("| inverted |").And.Contain("Machine: CPU").And.Contain("Wall time");
        page.Should().NotContain("official code, MNIST AUROC", "only the standard budget's own models have the official run's sizes");
        page.Split('\n').Count(l => l.StartsWith("| checkerboard |", StringComparison.Ordinal)).Should().Be(4, "one row in the main table, one in the synthetic table, one per set in the latent-layout table");
        output.ToString().Should().NotContain("\u001b[");
    }

    [Fact]
    public void Biases_RunAgainIntoTheSameFolder_ReusesTheSavedModelsAndRedoesABrokenOne()
    {
        var first = BiasesExperiment.Run(TinyOptions(seeds: 1), Terminal.Create(new StringWriter(), plain: true), plain: true);
        var broken = Path.Combine(folder, "biases-runs", "cycle-seed3.json");
        File.WriteAllText(broken, File.ReadAllText(broken)[..100]);
        using var output = new StringWriter();

        var second = BiasesExperiment.Run(TinyOptions(seeds: 1), Terminal.Create(output, plain: true), plain: true);

        var log = output.ToString();
        log.Should().Contain("checkerboard seed 3: reusing the saved run").And.Contain("bottleneck-l4 seed 3: reusing the saved run")
            .And.Contain("cycle seed 3: cycle-seed3.json is not a complete run file").And.Contain("training cycle-seed3");
        log.Should().NotContain("training checkerboard-seed3");
        second.Runs.Single(r => r.Model == "checkerboard").InScores.Should().Equal(first.Runs.Single(r => r.Model == "checkerboard").InScores);
        second.Runs.Single(r => r.Model == "cycle").InScores.Should().Equal(first.Runs.Single(r => r.Model == "cycle").InScores, "training is deterministic at a seed");

        using var third = new StringWriter();
        BiasesExperiment.Run(TinyOptions(seeds: 1) with { Steps = 2 }, Terminal.Create(third, plain: true), plain: true);
        third.ToString().Should().Contain("checkerboard seed 3: checkerboard-seed3.json was made with other settings; training again");
    }

    [Fact]
    public void Comparison_VerdictNeedsTwiceTheNoise()
    {
        new BiasesComparison("masks", BiasesComparison.EqualBudget, "cycle", "checkerboard", 0.30, 0.20, 0.04, double.NaN).Verdict.Should().Be(BiasesVerdict.Above);
        new BiasesComparison("masks", BiasesComparison.EqualBudget, "cycle", "checkerboard", 0.27, 0.20, 0.04, double.NaN).Verdict.Should().Be(BiasesVerdict.WithinNoise);
        new BiasesComparison("masks", BiasesComparison.EqualBudget, "cycle", "checkerboard", 0.10, 0.20, 0.04, double.NaN).Verdict.Should().Be(BiasesVerdict.Below);
    }

    [Fact]
    public void Compare_NoiseAddsTheSeedSpreadToThePairedImageBootstrap()
    {
        // Two models scored on the same 200 + 200 images: "good" separates them perfectly at every seed, "coin" not at all
        // but with seed-to-seed spread.
        var random = new Random(5);
        double[] Noise(int n) => Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
        BiasesRun Run(string model, long seed, double[] inScores, double[] mnist) =>
            new(model, seed, 10, 1, [new BiasesCheckpoint(1, 5.0, Auroc(inScores, mnist)), new BiasesCheckpoint(2, 4.0, Auroc(inScores, mnist))], [], inScores, mnist);
        var runs = Enumerable.Range(1, 3).Select(k => (long)k).SelectMany(seed => new[]
        {
            Run("good", seed, Noise(200), Noise(200).Select(x => x + 2).ToArray()),
            Run("coin", seed, Noise(200), Noise(200).Select(x => x + (0.1 * (seed - 2))).ToArray()),
        }).ToList();
        BiasesModel Model(string stem, BiasesFamily family) => new(stem, stem, family, () => throw new InvalidOperationException());
        var models = new[] { Model("coin", BiasesFamily.Baseline), Model("good", BiasesFamily.Mask) };
        var bootstrap = new ImageBootstrap(200, 200);
        var summaries = BiasesStatistics.Summarise(models, runs, bootstrap);
        var groups = BiasesStatistics.Groups(models);
        var matched = groups.SelectMany(g => BiasesStatistics.Match(g, summaries)).ToList();

        var comparisons = BiasesStatistics.Compare(groups, summaries, matched, bootstrap);

        summaries["good"].Auroc.Should().Be((1.0, 0.0));
        summaries["good"].AurocInterval.Should().Be((1.0, 1.0));
        var coin = summaries["coin"];
        coin.Auroc.Sd.Should().BeGreaterThan(0.05, "the seeds shift MNIST by −0.1, 0 and +0.1");
        coin.AurocInterval.Lower.Should().BeLessThan(coin.Auroc.Mean).And.BeGreaterThan(coin.Auroc.Mean - 0.1);
        var equal = comparisons.Single(c => c.Kind == BiasesComparison.EqualBudget);
        equal.Noise.Should().BeGreaterThan(coin.Auroc.Sd / Math.Sqrt(3)).And.BeLessThan(0.2);
        equal.Verdict.Should().Be(BiasesVerdict.Above);
        comparisons.Single(c => c.Kind == BiasesComparison.Matched).Level.Should().Be(4.0);
    }

    private static double Auroc(double[] inScores, double[] ood) => FlowOod.Metrics.OodMetrics.Auroc(inScores, ood);

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
