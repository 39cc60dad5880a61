namespace FlowOod.Cli;

/// <summary>Options of the <c>compare-scorers</c> verb.</summary>
internal sealed record CompareOptions
{
    public int Steps { get; init; } = 600;

    public int BatchSize { get; init; } = 64;

    public int TrainImages { get; init; } = 20_000;

    public int Ensemble { get; init; } = 3;

    public double MutationRate { get; init; } = 0.05;

    public bool BackgroundFromScratch { get; init; }

    public double WeightDecay { get; init; }

    public int ClassifierSteps { get; init; } = 600;

    public double Alpha { get; init; } = 0.05;

    public string Flow { get; init; } = "glow";

    public long Seed { get; init; } = 1;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    public int EvaluationLimit { get; init; } = 2000;

    public string? SaveDetector { get; init; }
}
