using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using FlowOod.Cli.Experiments;
using FlowOod.Data;
using FlowOod.Models;
using FluentAssertions;
using Spectre.Console;
using Xunit;

namespace FlowOod.Cli.Tests;

// The experiment seam (one list feeds the verb table and reproduce) and resumable reproduce runs. The fake experiment
// needs no data and trains nothing; the tiny run and the flow cache need the datasets (./build.sh test prepares them).
public sealed class ExperimentSeamTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-seam-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An experiment that writes a one-line fragment and counts its runs.</summary>
    private sealed class FakeExperiment : IExperiment
    {
        public int Runs { get; private set; }

        public string Verb => "fake";

        public string Title => "A fake experiment";

        public string Description => "A fake experiment for the seam's tests.";

        public Command Command(TextWriter output, bool plain)
        {
            var command = new Command(Verb, Description);
            command.SetAction(_ =>
            {
                Runs++;
                output.WriteLine("fake ran");
                return CliApp.Success;
            });
            return command;
        }

        public bool RunsIn(ReproduceOptions options) => true;

        public ExperimentResult Reproduce(ReproduceContext context, IAnsiConsole console, bool plain)
        {
            Runs++;
            var path = Path.Combine(context.Options.OutputDirectory, "fake.md");
            File.WriteAllText(path, $"## The fake experiment\n\nseed {context.Options.Seed}\n");
            return new ExperimentResult([new Finding("The fake claim", "fake target", "0.5", true)], path, TimeSpan.FromSeconds(1.5))
            {
                Notes = new Dictionary<string, string> { [ExperimentResult.DiscussionNote] = "## A fake discussion\n\n" },
            };
        }
    }

    private static (int Code, string Output, string Error) Run(IReadOnlyList<IExperiment> experiments, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(args, output, error, plain: true, experiments);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void VerbTable_ListsEveryExperimentOfTheList()
    {
        var (code, output, _) = Run(ExperimentList.All, "--help");

        code.Should().Be(CliApp.Success);
        ExperimentList.All.Select(e => e.Verb).Should().OnlyHaveUniqueItems().And.Contain(["baseline", "latents", "couplings", "biases", "negative", "llr-select", "scorers", "generalise"]);
        foreach (var experiment in ExperimentList.All)
        {
            output.Should().Contain(experiment.Verb);
        }

        var (_, reproduceHelp, _) = Run(ExperimentList.All, "reproduce", "--help");
        reproduceHelp.Should().Contain(string.Join(", ", ExperimentList.All.Select(e => e.Verb))).And.Contain("--fresh").And.Contain("standard");
    }

    [Fact]
    public void NewExperiment_IsBothAVerbAndAPartOfReproduce()
    {
        var fake = new FakeExperiment();
        IReadOnlyList<IExperiment> experiments = [fake];

        var verb = Run(experiments, "fake");
        var reproduce = Run(experiments, "reproduce", "--out", folder);

        verb.Code.Should().Be(CliApp.Success);
        verb.Output.Should().Contain("fake ran");
        reproduce.Code.Should().Be(CliApp.Success, reproduce.Error);
        fake.Runs.Should().Be(2);
        var page = File.ReadAllText(Path.Combine(folder, "results.md"));
        page.Should().Contain("| The fake claim | fake target | 0.5 | yes |").And.Contain("| A fake experiment | 0.0 min |")
            .And.Contain("## A fake discussion").And.Contain("## The fake experiment");
        Run(experiments, "baseline", "--out", folder).Code.Should().Be(CliApp.Usage, "a verb not in the list is no verb");
    }

    [Fact]
    public void Reproduce_Rerun_ReusesTheSavedOutcome_UnlessSeedStateOrFreshSaySo()
    {
        var fake = new FakeExperiment();
        IReadOnlyList<IExperiment> experiments = [fake];
        var state = Path.Combine(folder, ReproduceState.FolderName, "fake.json");

        Run(experiments, "reproduce", "--out", folder).Code.Should().Be(CliApp.Success);
        File.Exists(state).Should().BeTrue("the outcome is saved as soon as the experiment completes");
        Directory.GetFiles(Path.Combine(folder, ReproduceState.FolderName), "*.tmp-*").Should().BeEmpty("state files are written atomically");
        var page = File.ReadAllText(Path.Combine(folder, "results.md"));

        var again = Run(experiments, "reproduce", "--out", folder);
        fake.Runs.Should().Be(1, "the same budget and seed reuse the saved outcome");
        again.Output.Should().Contain("Reusing the saved outcome of fake");
        File.ReadAllText(Path.Combine(folder, "results.md")).Should().Be(page, "the page is assembled from the saved outcomes");

        var otherSeed = Run(experiments, "reproduce", "--out", folder, "--seed", "2");
        fake.Runs.Should().Be(2, "a saved state of another seed is not reused");
        otherSeed.Output.Should().Contain("is for budget quick, seed 1; this run is budget quick, seed 2");

        File.WriteAllText(state, File.ReadAllText(state)[..40]);
        var truncated = Run(experiments, "reproduce", "--out", folder, "--seed", "2");
        truncated.Code.Should().Be(CliApp.Success, truncated.Error);
        fake.Runs.Should().Be(3, "a half-written state file is detected and the experiment redone");
        truncated.Output.Should().Contain("does not read");

        Run(experiments, "reproduce", "--out", folder, "--seed", "2", "--fresh").Code.Should().Be(CliApp.Success);
        fake.Runs.Should().Be(4, "--fresh ignores the saved state");
        Run(experiments, "reproduce", "--out", folder, "--seed", "2", "--budget", "standard").Code.Should().Be(CliApp.Success);
        fake.Runs.Should().Be(5, "another budget is another run");
    }

    [Fact]
    public void Reproduce_TinyRunTwice_TheSecondTrainsNothingAndRebuildsTheSamePage()
    {
        var plots = Path.Combine(folder, "results");
        var pagePath = Path.Combine(folder, "results.md");
        var options = ScorersAndReproduceTests.TinyReproduce(plots, pagePath);
        using var first = new StringWriter();
        var firstReport = ReproduceExperiment.Run(options, Terminal.Create(first, plain: true), plain: true);
        var page = File.ReadAllText(pagePath);
        firstReport.FlowsTrained.Should().BeGreaterThan(0);
        Directory.GetFiles(Path.Combine(plots, ReproduceExperiment.ModelsFolder), "*.flowood").Should().NotBeEmpty("trained flows are kept as model files");

        using var second = new StringWriter();
        var secondReport = ReproduceExperiment.Run(options, Terminal.Create(second, plain: true), plain: true);

        secondReport.FlowsTrained.Should().Be(0, second.ToString());
        secondReport.Resumed.Should().Equal(ExperimentList.All.Select(e => e.Verb));
        secondReport.Findings.Should().Equal(firstReport.Findings);
        File.ReadAllText(pagePath).Should().Be(page);

        // A half-written state: latents runs again, with the baseline's flows loaded from the model files.
        var latents = Path.Combine(plots, ReproduceState.FolderName, "latents.json");
        File.WriteAllText(latents, File.ReadAllText(latents)[..(File.ReadAllText(latents).Length / 2)]);
        using var third = new StringWriter();
        var thirdReport = ReproduceExperiment.Run(options, Terminal.Create(third, plain: true), plain: true);

        thirdReport.Resumed.Should().NotContain("latents").And.HaveCount(ExperimentList.All.Count - 1);
        thirdReport.FlowsTrained.Should().Be(0, third.ToString());
        thirdReport.FlowsLoaded.Should().BeGreaterThan(0);
        third.ToString().Should().Contain("The saved state of latents").And.Contain("Loaded the trained");
        File.ReadAllText(pagePath).Should().Contain("## Experiment 2").And.Contain("| claim | target | measured | held |");
    }

    [Fact]
    public void FlowCache_WithAFolder_LoadsTheSavedFlowInsteadOfTrainingIt()
    {
        var data = Samples.FashionMnist.FlowOodDatasets.FashionMnist(DatasetSplit.Train, null);
        var model = new BaselineModel("glow", "tiny Glow", 2, () => Glow.Create([1, 28, 28], GlowOptions.Tiny));
        using var output = new StringWriter();
        var console = Terminal.Create(output, plain: true);
        var images = data.Take(8);
        double[] trainedDensity;
        using (var cache = new FlowCache(folder, Precision.ComputePrecision.Float32))
        {
            var trained = cache.GetOrTrain(model, 2, 16, data, 64, seed: 5, console, plain: true, evaluateHeldOut: true);
            trainedDensity = Nll(trained.Flow, images);
            cache.Trained.Should().Be(1);
        }

        using var again = new FlowCache(folder, Precision.ComputePrecision.Float32);
        var loaded = again.GetOrTrain(model, 2, 16, data, 64, seed: 5, console, plain: true);
        (again.Trained, again.Loaded).Should().Be((0, 1));
        Nll(loaded.Flow, images).Should().Equal(trainedDensity);
        loaded.Curve.HeldOut.Should().NotBeEmpty("the training curve is saved with the flow");
        again.GetOrTrain(model, 2, 16, data, 64, seed: 6, console, plain: true);
        again.Trained.Should().Be(1, "another seed is another flow");
        using var fresh = new FlowCache(folder, Precision.ComputePrecision.Float32) { LoadSaved = false };
        fresh.GetOrTrain(model, 2, 16, data, 64, seed: 5, console, plain: true);
        (fresh.Trained, fresh.Loaded).Should().Be((1, 0));
    }

    [Fact]
    public void StandardBudget_MeetsItsContract()
    {
        foreach (var model in BaselineExperiment.Models(Budget.Standard))
        {
            (model.Steps * 64).Should().BeGreaterThanOrEqualTo(20_000, model.Stem);
        }

        var standard = new BaselineOptions { OutputDirectory = folder, Budget = Budget.Standard };
        standard.EffectivePrecision.Should().Be(Precision.ComputePrecision.Auto);
        new BaselineOptions { OutputDirectory = folder }.EffectivePrecision.Should().Be(Precision.ComputePrecision.Float32, "quick stays fp32");
        standard.EffectiveEvaluationLimit.Should().BeGreaterThanOrEqualTo(2_000);
        (NegativeExperiment.ModelOf(Budget.Standard).Steps * 64).Should().BeGreaterThanOrEqualTo(20_000);
        new NegativeOptions { OutputDirectory = folder, Budget = Budget.Standard }.EffectiveEvaluationLimit.Should().BeGreaterThanOrEqualTo(2_000);
        new ScorersOptions { OutputDirectory = folder, Budget = Budget.Standard }.EffectiveEvaluationLimit.Should().BeGreaterThanOrEqualTo(2_000);
        new LikelihoodRatioSelectionOptions { OutputDirectory = folder, Budget = Budget.Standard }.EffectiveEvaluationLimit.Should().BeGreaterThanOrEqualTo(2_000);
        var generalise = new GeneraliseOptions { OutputDirectory = folder, Budget = Budget.Standard };
        (generalise.EffectiveEvaluationLimit, generalise.Seeds).Should().Be((2_000, 3));
        (generalise.EffectiveLocalSteps * 64).Should().BeGreaterThanOrEqualTo(20_000);
        Run(ExperimentList.All, "baseline", "--out", folder, "--budget", "medium").Code.Should().Be(CliApp.Usage);
    }

    private static double[] Nll(NormalizingFlow flow, ImageDataset images)
    {
        using var scorer = new Scoring.NegativeLogLikelihoodScorer(flow);
        return CompareScorers.Score(scorer, images, images.Count);
    }
}
