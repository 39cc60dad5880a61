using System.CommandLine;
using System.Linq;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// The switches every experiment verb shares (--budget, --out, --seed, --steps, --train-images, --eval-limit,
/// --batch-size, --data-dir, --threads), made once per verb with its own descriptions, and their binding to the
/// verb's <see cref="ExperimentOptions"/>.
/// </summary>
internal sealed class ExperimentSwitches
{
    private readonly Option<Budget> budget;
    private readonly Option<string> outDir;
    private readonly Option<long> seed = CliApp.SeedOption();
    private readonly Option<int?> steps;
    private readonly Option<int?> trainImages;
    private readonly Option<int?>? evaluationLimit;
    private readonly Option<int> batchSize = CliApp.Positive("--batch-size", "images per step", 64);
    private readonly Option<string?> dataDir = CliApp.DataDirOption();
    private readonly Option<int> threads = CliApp.ThreadsOption();

    /// <summary>The switches of a verb: what each budget runs, what <c>--out</c> receives, and the verb's own wording of the overrides (null <paramref name="evaluationLimit"/>: no --eval-limit).</summary>
    public ExperimentSwitches(string quick, string standard, string full, string outputs, string? evaluationLimit = "images scored per set (overrides the budget)",
        string steps = "training steps per model (overrides the budget)", string trainImages = "Fashion-MNIST training images (overrides the budget)")
    {
        budget = CliApp.BudgetOption(quick, standard, full);
        outDir = CliApp.OutOption(outputs);
        this.steps = CliApp.OptionalPositive("--steps", steps);
        this.trainImages = CliApp.OptionalPositive("--train-images", trainImages);
        this.evaluationLimit = evaluationLimit is null ? null : CliApp.OptionalPositive("--eval-limit", evaluationLimit);
    }

    /// <summary>A command with the shared switches first, then <paramref name="own"/>.</summary>
    public Command Command(string name, string description, params Option[] own)
    {
        var command = new Command(name, description);
        Option?[] shared = [budget, outDir, seed, steps, trainImages, evaluationLimit, batchSize];
        foreach (var option in shared.Concat(own).Append(dataDir).Append(threads).OfType<Option>())
        {
            command.Options.Add(option);
        }

        return command;
    }

    /// <summary><paramref name="options"/> with the shared switches' values and the command line.</summary>
    public T Bind<T>(ParseResult p, T options)
        where T : ExperimentOptions =>
        (T)options.WithCommon(
            p.GetValue(budget), p.GetValue(outDir)!, p.GetValue(seed), p.GetValue(steps), p.GetValue(trainImages),
            evaluationLimit is null ? null : p.GetValue(evaluationLimit), p.GetValue(batchSize), p.GetValue(dataDir), p.GetValue(threads), CliApp.CommandLineOf(p));

    /// <summary>The value of <c>--out</c>.</summary>
    public string Out(ParseResult p) => p.GetValue(outDir)!;
}
