using System.Collections.Generic;

namespace FlowOod.Cli;

/// <summary>Options of <c>flowood fit-detector</c>.</summary>
internal sealed record FitDetectorOptions
{
    /// <summary>The detector file to write (atomically).</summary>
    public required string ModelPath { get; init; }

    /// <summary>A scorer kind of <see cref="ScorerKinds.Names"/>.</summary>
    public string Scorer { get; init; } = "complexity";

    /// <summary>glow or realnvp.</summary>
    public string Flow { get; init; } = "glow";

    /// <summary>A folder of IDX files (train split preferred) with the in-distribution images; null: Fashion-MNIST train.</summary>
    public string? TrainingData { get; init; }

    /// <summary>A folder of IDX files to calibrate on; null: the images of the training set after the training and fit ones.</summary>
    public string? CalibrationData { get; init; }

    /// <summary>α: the largest fraction of in-distribution inputs the detector may flag.</summary>
    public double Alpha { get; init; } = 0.05;

    public int Steps { get; init; } = 600;

    public int BatchSize { get; init; } = 64;

    public int TrainImages { get; init; } = 20_000;

    /// <summary>Held-out images for the scorers that fit a statistic (typicality, two-sided), taken after the training images.</summary>
    public int FitImages { get; init; } = 1_000;

    public int CalibrationImages { get; init; } = 2_000;

    public double MutationRate { get; init; } = 0.05;

    /// <summary>Flows in waic's ensemble.</summary>
    public int EnsembleSize { get; init; } = 3;

    public long Seed { get; init; } = 1;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }
}

/// <summary>Options of <c>flowood calibrate</c>.</summary>
internal sealed record CalibrateOptions
{
    /// <summary>A saved detector (or scorer) to calibrate.</summary>
    public required string ModelPath { get; init; }

    /// <summary>The detector file to write; null: replace <see cref="ModelPath"/> (atomically).</summary>
    public string? OutputPath { get; init; }

    /// <summary>A folder of IDX files with new in-distribution images; null: Fashion-MNIST train from index 50,000.</summary>
    public string? CalibrationData { get; init; }

    /// <summary>α; null: the saved detector's.</summary>
    public double? Alpha { get; init; }

    /// <summary>The first calibration image used.</summary>
    public int Start { get; init; }

    public int CalibrationImages { get; init; } = 2_000;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    /// <summary>Metadata to add to the file.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
