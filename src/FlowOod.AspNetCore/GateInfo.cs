using System;
using System.Collections.Generic;

namespace FlowOod.AspNetCore;

/// <summary>What the gate serving requests now is: where it came from and what it takes (a snapshot; a reload makes a new one).</summary>
public sealed class GateInfo
{
    internal GateInfo(string path, IReadOnlyList<long> inputShape, IReadOnlyList<string> classNames, double targetFalsePositiveRate, double threshold, DateTimeOffset loadedAt, long generation)
    {
        Path = path;
        InputShape = inputShape;
        ClassNames = classNames;
        TargetFalsePositiveRate = targetFalsePositiveRate;
        Threshold = threshold;
        LoadedAt = loadedAt;
        Generation = generation;
    }

    /// <summary>The gate file.</summary>
    public string Path { get; }

    /// <summary>The shape of one input, e.g. <c>[1, 28, 28]</c>.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>The class names in logit order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>α, the target false-positive rate in force (the file's, or the configured override).</summary>
    public double TargetFalsePositiveRate { get; }

    /// <summary>The detector's threshold: a score strictly above it is refused.</summary>
    public double Threshold { get; }

    /// <summary>When this gate was loaded.</summary>
    public DateTimeOffset LoadedAt { get; }

    /// <summary>1 for the gate loaded at start, one more for each successful reload.</summary>
    public long Generation { get; }
}
