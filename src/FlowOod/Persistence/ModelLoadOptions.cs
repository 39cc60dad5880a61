using FlowOod.Precision;
using TorchSharp;

namespace FlowOod.Persistence;

/// <summary>Options of <see cref="ModelFile"/>'s load methods.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Where to put the loaded parameters (default: CPU).</summary>
    public torch.Device? Device { get; init; }

    /// <summary>
    /// The code a file names but cannot store: your component types, factories of hand-composed flows, compressor
    /// instances, a feature extractor, objects your components need. Default <see cref="ModelCatalog.BuiltIn"/>
    /// (FlowOod's components only); extend it with e.g. <c>ModelCatalog.BuiltIn.With&lt;YourMask&gt;().WithFeatureExtractor(f)</c>.
    /// </summary>
    public ModelCatalog Catalog { get; init; } = ModelCatalog.BuiltIn;

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
