using System;
using System.Collections.Generic;
using FlowOod.Components;
using FlowOod.Precision;
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
    /// The components a file's descriptions may name (masks, st-networks, bottlenecks, scale activations, builders'
    /// options, compressors, scorers). Default <see cref="ComponentCatalog.BuiltIn"/>; add your own with
    /// <c>ComponentCatalog.BuiltIn.With&lt;YourMask&gt;()</c>.
    /// </summary>
    public ComponentCatalog Components { get; init; } = ComponentCatalog.BuiltIn;

    /// <summary>
    /// Compressors of saved <see cref="Scoring.InputComplexityScorer"/>s given as instances, matched by
    /// <see cref="Scoring.ICompressor.Name"/> before <see cref="Components"/> is asked (which holds FlowOod's PNG and
    /// Deflate, and reads compressors that describe themselves as components).
    /// </summary>
    public IReadOnlyList<Scoring.ICompressor> Compressors { get; init; } = Array.Empty<Scoring.ICompressor>();

    /// <summary>
    /// Objects your own components need at load time (code a file cannot store, such as a delegate or a module), handed to
    /// their <c>Read</c> through <see cref="ComponentReader.Provided{T}"/> by type, after <see cref="FeatureExtractor"/>,
    /// <see cref="FeatureExtractorModule"/> and <see cref="Compressors"/>.
    /// </summary>
    public IReadOnlyList<object> Provided { get; init; } = Array.Empty<object>();

    /// <summary>
    /// The precision of the loaded flows' st-networks. Default <see cref="ComputePrecision.Float32"/>: as stored. With
    /// <see cref="ComputePrecision.BFloat16"/>, or <see cref="ComputePrecision.Auto"/> where
    /// <see cref="ConditionerPrecision.Choose"/> picks it for <see cref="Device"/> on this processor, every flow's
    /// st-networks are converted to bf16 once, after loading, exactly as <see cref="ConditionerPrecision.CreateInferenceCopy"/>
    /// does: for scoring (a scorer, detector or gate loaded this way scores faster on a CPU with native bf16, and slightly
    /// differently: see docs/performance.md). Keep Float32 to train a loaded flow further or to save it again.
    /// </summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;

    /// <summary>Files larger than this are refused before anything is read. Default 8 GiB.</summary>
    public long MaxFileBytes { get; init; } = 8L << 30;
}
