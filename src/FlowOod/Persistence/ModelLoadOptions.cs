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

    /// <summary>
    /// The feature extractor of a saved <see cref="Scoring.FeatureSpaceScorer"/> (code cannot be stored in a model file):
    /// input batch <c>[N, ...]</c> → features <c>[N, D]</c>, D as stored. Give this or <see cref="FeatureExtractorModule"/>.
    /// </summary>
    public Func<torch.Tensor, torch.Tensor>? FeatureExtractor { get; init; }

    /// <summary>A TorchSharp module as the feature extractor of a saved <see cref="Scoring.FeatureSpaceScorer"/> (run in evaluation mode).</summary>
    public torch.nn.Module<torch.Tensor, torch.Tensor>? FeatureExtractorModule { get; init; }

    /// <summary>
    /// Compressors of saved <see cref="Scoring.InputComplexityScorer"/>s other than FlowOod's PNG and Deflate, matched by
    /// <see cref="Scoring.ICompressor.Name"/>.
    /// </summary>
    public IReadOnlyList<Scoring.ICompressor> Compressors { get; init; } = Array.Empty<Scoring.ICompressor>();

    /// <summary>Files larger than this are refused before anything is read. Default 8 GiB.</summary>
    public long MaxFileBytes { get; init; } = 8L << 30;
}
