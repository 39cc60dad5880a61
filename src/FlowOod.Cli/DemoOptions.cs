namespace FlowOod.Cli;

/// <summary>Command-line options of the demo, with their defaults.</summary>
internal sealed record DemoOptions
{
    public int Steps { get; init; } = 300;

    public int BatchSize { get; init; } = 64;

    public long Seed { get; init; } = 1;

    public double LearningRate { get; init; } = 1e-3;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    public int EvaluationLimit { get; init; } = 10_000;
}
