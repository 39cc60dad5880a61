using System;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Models;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// Experiments 6-7 (scorers), the likelihood-ratio background choice and the reproduce verb end to end at a tiny size,
// plus their parsing. Needs the datasets (./build.sh test prepares them).
public sealed class ScorersAndReproduceTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-reproduce-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static BaselineModel[] TinyModels() =>
    [
        new("realnvp", "tiny RealNVP", 2, () => RealNvp.Create([1, 28, 28], new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 })),
        new("glow", "tiny Glow", 2, () => Glow.Create([1, 28, 28], GlowOptions.Tiny)),
    ];

    private static GeneraliseOptions TinyGeneralise(string folder) => new()
    {
        OutputDirectory = folder,
        Steps = 2,
        TrainImages = 128,
        EvaluationLimit = 24,
        Seeds = 2,
        RotationSteps = 2,
        OodSets = ["mnist", "noise"],
        FullModel = TinyModels()[1],
        LocalModel = new("local", "tiny local flow", 2, () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.Local with { Couplings = 2, Conditioner = new Conditioners.LocalConditionerFactory(3, 4, 1) })),
    };

    [Fact]
    public void Generalise_TinyRun_ChoosesOnValidationSetsOnly_AndReportsEverySeed()
    {
        using var output = new StringWriter();
        var options = TinyGeneralise(folder) with { CommandLine = "flowood generalise (tiny)" };

        GeneraliseReport report;
        try
        {
            report = GeneraliseExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(output.ToString(), e);
        }

        report.Validation.Should().HaveCount(Candidates.All.Count);
        report.Validation.Should().OnlyContain(v => v.Results.Count == GeneraliseOptions.ValidationShifts.Length + 1, "every shift of held-out training images and the held-out classes");
        report.Validation.SelectMany(v => v.Results).Should().NotContain(r => r.OutOfDistribution.StartsWith("MNIST", StringComparison.Ordinal), "MNIST is never a validation set");
        var nll = report.Validation.Single(v => v.Candidate.Key == "nll").Seconds;
        var best = report.Validation.Where(v => v.Seconds <= options.MaxCostRatio * nll).Max(v => v.Results.Min(r => r.Auroc));
        report.Validation.Single(v => v.Candidate.Key == report.Chosen).Results.Min(r => r.Auroc).Should().Be(best, "the eligible candidate with the best worst validation AUROC wins");
        var secondSeed = report.Chosen == "nll" ? 1 : 2;
        report.Report.Should().HaveCount(Candidates.All.Count + secondSeed, "every candidate on the first seed, the chosen one and NLL on the second");
        report.Report.Should().OnlyContain(r => r.Results.Count == 2 && r.Results[0].OutOfDistribution.StartsWith("MNIST", StringComparison.Ordinal));
        var page = File.ReadAllText(report.MarkdownPath);
        page.Should().Contain("## Which scores generalise").And.Contain("**Selection protocol**").And.Contain("(chosen)")
            .And.Contain("mean ± sd").And.Contain("flowood generalise (tiny)").And.MatchRegex(@"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]");
    }

    private static ScorersOptions TinyScorers(string folder) => new()
    {
        OutputDirectory = folder,
        TrainImages = 128,
        EvaluationLimit = 48,
        Ensemble = 2,
        ClassifierSteps = 3,
        RotationSteps = 2,
        OodSets = ["mnist", "inverted"],
        Seed = 3,
        CommandLine = "flowood scorers --seed 3 (tiny models)",
        Models = TinyModels(),
    };

    [Fact]
    public void Scorers_TinyRun_ReportsEveryScorerOnEverySetAndWritesPlots()
    {
        using var output = new StringWriter();

        var report = ScorersExperiment.Run(TinyScorers(folder), Terminal.Create(output, plain: true), plain: true);

        // Per model: NLL, likelihood ratio, input complexity, typicality, DoSE, the recommended score, WAIC; then the feature-space flow.
        report.Rows.Should().HaveCount(15);
        report.Rows.Where(r => ScorersExperiment.ShortName(r.Scorer) == "recommended: density of DoSE and rotation prediction").Select(r => r.Model)
            .Should().Equal("realnvp", "glow");
        report.Rows.Select(r => r.Model).Distinct().Should().Equal("realnvp", "glow", "classifier");
        report.Rows.Should().OnlyContain(r => r.Results.Count == 2 && r.Results.All(x => x.InScores.Length == 48 && x.OodScores.Length == 48));
        report.Rows.SelectMany(r => r.Results).Should().OnlyContain(r => r.Auroc >= 0 && r.Auroc <= 1);
        report.ClassifierAccuracy.Should().BeInRange(0, 1);
        report.Files.Should().OnlyContain(f => File.Exists(f));
        foreach (var plot in new[] { "realnvp-scorers-roc-mnist", "glow-scorers-roc-mnist", "feature-space-nll", "feature-space-roc", "glow-training", "glow-seed4-training" })
        {
            PlotTests.PngSize(Path.Combine(folder, plot + ".png")).Should().Be((Plots.Width, Plots.Height));
            File.Exists(Path.Combine(folder, plot + ".svg")).Should().BeTrue();
        }

        var page = File.ReadAllText(report.MarkdownPath);
        page.Should().StartWith("## Experiments 6 and 7").And.Contain("| glow | −WAIC").And.Contain("AUROC inverted Fashion-MNIST test")
            .And.Contain("--seed 3").And.Contain("Machine: CPU").And.Contain("feature-space-roc.png").And.Contain("left out");
        output.ToString().Should().NotContain("\u001b[", "plain output has no ANSI escapes");
    }

    [Fact]
    public void LikelihoodRatioSelection_TinyRun_ChoosesTheBestValidationMean()
    {
        using var output = new StringWriter();
        var options = new LikelihoodRatioSelectionOptions
        {
            OutputDirectory = folder,
            Steps = 2,
            TrainImages = 128,
            Grid = [new(false, 0.1), new(true, 0.2)],
            Model = TinyModels()[1],
            CommandLine = "flowood llr-select (tiny)",
        };

        var report = LikelihoodRatioSelection.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.Rows.Should().HaveCount(5, "the raw NLL for reference, then each background one-sided and two-sided");
        report.Rows[0].Setting.Should().BeNull();
        report.Rows.Skip(1).Select(r => r.Setting!.TwoSided).Should().Equal(false, true, false, true);
        report.Rows.Should().OnlyContain(r => r.ValidationAuroc.Count == 2 && r.MnistAuroc != null);
        report.Chosen.Should().Be(report.Rows.Skip(1).MaxBy(r => r.MeanValidation)!.Setting);
        var page = File.ReadAllText(report.MarkdownPath);
        page.Should().Contain("(chosen)").And.Contain("never used to choose").And.Contain("AUROC vflip");
    }

    /// <summary>The reproduce run at a tiny size: every experiment's budget replaced (seconds per experiment).</summary>
    internal static ReproduceOptions TinyReproduce(string plots, string pagePath, long seed = 3)
    {
        var models = TinyModels();
        return new ReproduceOptions
        {
            OutputDirectory = plots,
            PagePath = pagePath,
            Seed = seed,
            CommandLine = "flowood reproduce (tiny)",
            Overrides = new ReproduceOverrides(
                b => b with { Steps = 2, TrainImages = 128, EvaluationLimit = 32, OodSets = ["mnist", "noise"], Models = models },
                l => l with { Steps = 2, TrainImages = 128, Draws = 2, StatisticsBatch = 4, LayoutImages = 8, LayoutDraws = 1, Models = models },
                c => c with
                {
                    Steps = 2,
                    TrainImages = 128,
                    EvaluationLimit = 8,
                    Model = new("horizontal3", "tiny 3-layer horizontal", 2, () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = new Conditioners.ResNetConditionerFactory(width: 4, blocks: 1) })),
                },
                b => b with
                {
                    Steps = 2,
                    TrainImages = 64,
                    EvaluationLimit = 16,
                    BatchSize = 8,
                    Models =
                    [
                        new("checkerboard", "tiny checkerboard", BiasesFamily.Baseline, () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvp8Layers with { Couplings = 2, Conditioner = new Conditioners.ResNetConditionerFactory(width: 4, blocks: 1) })),
                        new("cycle", "tiny cycle-mask", BiasesFamily.Mask, () => SingleScaleRealNvp.Create([1, 28, 28], SingleScaleRealNvpOptions.RealNvpCycleMask with { Couplings = 2, Conditioner = new Conditioners.ResNetConditionerFactory(width: 4, blocks: 1) })),
                    ],
                },
                n => n with { Steps = 2, TrainImages = 128, EvaluationLimit = 16, BatchSize = 16, Model = models[1] },
                s => TinyScorers(plots) with { Steps = 2, EvaluationLimit = 32, Cache = s.Cache, Background = s.Background, OodSets = ["mnist", "noise"] },
                q => q with { Steps = 2, TrainImages = 128, Grid = [new(false, 0.1), new(false, 0.3)], Model = models[1] },
                g => TinyGeneralise(plots) with { FullModel = models[1], Cache = g.Cache, CommandLine = g.CommandLine }),
        };

    }

    [Fact]
    public void Reproduce_TinyRun_WritesThePageWithFindingsAndRelativeLinks()
    {
        using var output = new StringWriter();
        var plots = Path.Combine(folder, "results");
        var pagePath = Path.Combine(folder, "results.md");
        var options = TinyReproduce(plots, pagePath);

        var report = ReproduceExperiment.Run(options, Terminal.Create(output, plain: true), plain: true);

        report.PagePath.Should().Be(pagePath);
        report.Times.Select(t => t.Experiment).Should().HaveCount(8);
        report.Findings.Should().Contain(f => f.Claim.Contains("higher likelihood", StringComparison.Ordinal))
            .And.Contain(f => f.Claim.Contains("Co-adaptation", StringComparison.Ordinal))
            .And.Contain(f => f.Claim.Contains("cycle beats the checkerboard", StringComparison.Ordinal))
            .And.Contain(f => f.Claim.Contains("Negative training (App. B)", StringComparison.Ordinal))
            .And.Contain(f => f.Claim.Contains("generalises beyond MNIST", StringComparison.Ordinal))
            .And.Contain(f => f.Claim.Contains("chosen without OOD data", StringComparison.Ordinal));
        var page = File.ReadAllText(pagePath);
        page.Should().StartWith("# Results").And.Contain("| claim | target | measured | held |").And.Contain("own image's layout score above a shuffled image's in > 75% of images (95% CI)")
            .And.Contain("## Experiment 1").And.Contain("## Experiment 2").And.Contain("## Experiment 3").And.Contain("## Experiment 4").And.Contain("## Experiment 5").And.Contain("## Experiments 6 and 7")
            .And.Contain("## Choosing the likelihood ratio's background").And.Contain("## Which scores generalise")
            .And.Contain("](results/realnvp-roc.png)").And.NotContain("](realnvp-roc.png)");
        Directory.GetFiles(folder, "*.tmp-*").Should().BeEmpty("the page is written atomically");
        output.ToString().Should().Contain("reused");
    }

    [Fact]
    public void FlowCache_SameModelStepsAndSeed_TrainsOnceAndOwnsTheFlow()
    {
        var data = FlowOodTestData();
        using var output = new StringWriter();
        var console = Terminal.Create(output, plain: true);
        var model = TinyModels()[1];
        NormalizingFlow first;
        using (var cache = new FlowCache())
        {
            first = cache.GetOrTrain(model, 2, 16, data, 64, seed: 5, console, plain: true).Flow;
            cache.GetOrTrain(model, 2, 16, data, 64, seed: 5, console, plain: true).Flow.Should().BeSameAs(first);
            cache.GetOrTrain(model, 2, 16, data, 64, seed: 6, console, plain: true).Flow.Should().NotBeSameAs(first);
            cache.GetOrTrain(model, 3, 16, data, 64, seed: 5, console, plain: true).Flow.Should().NotBeSameAs(first);
            (cache.Trained, cache.Reused).Should().Be((3, 1));
        }

        first.Invoking(f => f.parameters().First().sum().item<float>()).Should().Throw<InvalidOperationException>("the cache disposed the flows it owned");
    }

    [Fact]
    public void Slice_TakesTheImagesAndLabelsOfTheRange()
    {
        byte[] pixels = [.. Enumerable.Range(0, 5 * 4).Select(i => (byte)i)];
        var set = new ImageDataset("five", 2, 2, pixels, [0, 1, 2, 3, 4]);

        var slice = LikelihoodRatioSelection.Slice(set, 1, 3, "middle");

        slice.Name.Should().Be("middle");
        slice.Count.Should().Be(3);
        slice.Pixels.ToArray().Should().Equal(Enumerable.Range(4, 12).Select(i => (byte)i));
        slice.Labels.ToArray().Should().Equal(1, 2, 3);
    }

    [Fact]
    public void WideTable_OneRowPerScorerOneColumnPerSet()
    {
        var result = new OodResult("Typicality |NLL − Ĥ| (nats)", "in", "a", [0, 1], [2, 3]);
        var text = ScorersExperiment.WideTable([new ScorerRow("glow", result.Scorer, [result, result with { OutOfDistribution = "b", OodScores = [-1, -2] }])], ["a", "b"]);

        text.Split('\n')[0].Should().Be("| model | scorer | AUROC a | AUROC b |");
        text.Should().Contain("| glow | typicality \\|NLL − Ĥ\\| | 1.000 | 0.000 |");
    }

    [Theory]
    [InlineData("scorers --out x --budget huge", "huge")]
    [InlineData("scorers --out x --mutation-rate 2", "--mutation-rate must lie in")]
    [InlineData("scorers --out x --background sometimes", "sometimes")]
    [InlineData("scorers --out x --ensemble 0", "--ensemble must be a positive integer")]
    [InlineData("llr-select --out x --flow pixelcnn", "pixelcnn")]
    [InlineData("reproduce --out x --budget huge", "huge")]
    [InlineData("reproduce", "--out")]
    public void Run_BadOption_ExitsWithUsageCodeNamingTheProblem(string commandLine, string expected)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = CliApp.Run(commandLine.Split(' '), output, error, plain: true);

        code.Should().Be(CliApp.Usage);
        error.ToString().Should().Contain(expected);
    }

    private static ImageDataset FlowOodTestData() => Samples.FashionMnist.FlowOodDatasets.FashionMnist(DatasetSplit.Train, null);
}
