using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FlowOod.Data;
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

    /// <summary>The seed of the synthetic OOD sets' noise (the low 31 bits of <see cref="Seed"/>).</summary>
    public int NoiseSeed => (int)(Seed & int.MaxValue);

    /// <summary>
    /// What every experiment's run starts with: its wall-time clock started, the runtime checked, the threads set and the
    /// data sets loaded (<see cref="SampleData.Prepare"/>), the output folder created.
    /// </summary>
    public (SampleData Data, Stopwatch Clock) Start()
    {
        var clock = Stopwatch.StartNew();
        var data = SampleData.Prepare(Threads, DataDirectory);
        Directory.CreateDirectory(OutputDirectory);
        return (data, clock);
    }

    /// <summary>The first <paramref name="limit"/> Fashion-MNIST test images: the in-distribution evaluation set.</summary>
    public static ImageDataset TestImages(SampleData data, int limit)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.FashionTest.Take(Math.Min(limit, data.FashionTest.Count));
    }

    /// <summary>The OOD sets <paramref name="names"/> (<see cref="Cli.OodSets.Load"/>), at most <paramref name="limit"/> images each.</summary>
    public IReadOnlyList<ImageDataset> LoadOodSets(SampleData data, IEnumerable<string> names, int limit)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(names);
        return names.Select(name => Cli.OodSets.Load(name, data.FashionTest, DataDirectory, limit, NoiseSeed)).ToList();
    }

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
