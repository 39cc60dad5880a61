using FlowOod.Precision;

namespace FlowOod.Cli;

/// <summary>
/// What every experiment verb takes: the budget, the output folder, the seed, overrides of the budget's sizes (null: the
/// budget's value) and the run's environment. Each verb's options record adds its own.
/// </summary>
internal abstract record ExperimentOptions
{
    public Budget Budget { get; init; } = Budget.Quick;

    /// <summary>Folder of the experiment's plots and Markdown fragment.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Seed of every initialisation, shuffle and noise.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Training steps per model; null: the budget's.</summary>
    public int? Steps { get; init; }

    /// <summary>Fashion-MNIST training images 0 … N − 1; null: the budget's.</summary>
    public int? TrainImages { get; init; }

    /// <summary>Images per evaluation set; null: the budget's (verbs that score no sets ignore it).</summary>
    public int? EvaluationLimit { get; init; }

    public int BatchSize { get; init; } = 64;

    /// <summary>Folder holding fashion-mnist/ and mnist/; null: the default data directory.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>TorchSharp intra-op threads; 0: libtorch's choice.</summary>
    public int Threads { get; init; }

    /// <summary>The st-networks' precision while training; null: the budget's (<see cref="EffectivePrecision"/>).</summary>
    public ComputePrecision? Precision { get; init; }

    /// <summary>
    /// The training precision: standard trains in <see cref="ComputePrecision.Auto"/> (bf16 st-networks where the CPU has
    /// native bf16, fp32 elsewhere); quick and full in fp32.
    /// </summary>
    public ComputePrecision EffectivePrecision => Precision ?? (Budget == Budget.Standard ? ComputePrecision.Auto : ComputePrecision.Float32);

    /// <summary>The command line shown on the results page.</summary>
    public string CommandLine { get; init; } = "flowood";

    /// <summary>A copy with the switches every experiment verb shares (the runtime type is kept).</summary>
    public ExperimentOptions WithCommon(
        Budget budget, string outputDirectory, long seed, int? steps, int? trainImages, int? evaluationLimit, int batchSize, string? dataDirectory, int threads, string commandLine) =>
        this with
        {
            Budget = budget,
            OutputDirectory = outputDirectory,
            Seed = seed,
            Steps = steps,
            TrainImages = trainImages,
            EvaluationLimit = evaluationLimit,
            BatchSize = batchSize,
            DataDirectory = dataDirectory,
            Threads = threads,
            CommandLine = commandLine,
        };
}
