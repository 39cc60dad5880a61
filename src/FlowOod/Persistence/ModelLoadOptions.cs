using System;
using System.Collections.Generic;
using TorchSharp;

namespace FlowOod.Persistence;

/// <summary>Options of <see cref="ModelFile"/>'s load methods.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Where to put the loaded parameters (default: CPU).</summary>
    public torch.Device? Device { get; init; }

    /// <summary>
    /// Factories for flows saved with a <see cref="FlowArchitecture.Custom"/> architecture, by name: each gets the stored
    /// architecture and event shape and returns a fresh flow (on the CPU) whose parameters the file then fills. Unlike the
    /// built-in builders, a custom factory's allocation cannot be checked against the file before it runs.
    /// </summary>
    public IReadOnlyDictionary<string, Func<FlowArchitecture, long[], NormalizingFlow>> FlowFactories { get; init; } =
        new Dictionary<string, Func<FlowArchitecture, long[], NormalizingFlow>>();

    /// <summary>Files larger than this are refused before anything is read. Default 8 GiB.</summary>
    public long MaxFileBytes { get; init; } = 8L << 30;
}
