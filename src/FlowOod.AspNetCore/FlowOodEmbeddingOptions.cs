using FlowOod.Embeddings;
using FlowOod.Persistence;

namespace FlowOod.AspNetCore;

/// <summary>
/// Settings of the FlowOod embedding-detector service
/// (<see cref="FlowOodServiceCollectionExtensions.AddFlowOodEmbeddingDetector(Microsoft.Extensions.DependencyInjection.IServiceCollection, System.Action{FlowOodEmbeddingOptions})"/>),
/// bound from configuration (e.g. the section <c>FlowOod:Embeddings</c>) and/or set in code, validated when the host
/// starts. The serving settings (batching, limits, drift, reload) are those of <see cref="FlowOodServingOptions"/>.
/// </summary>
public sealed class FlowOodEmbeddingOptions : FlowOodServingOptions
{
    /// <summary>The model file written by <see cref="EmbeddingDetector.Save"/> (required). Replace it atomically (write a
    /// temporary file, then rename it over this path) to hot-reload the detector; a reload must keep the dimension D.</summary>
    public string DetectorPath { get; set; } = string.Empty;

    /// <summary>The most rows one request may carry, 1 … 65,536 (more gives 413). Each row is one entry of the scoring
    /// queue (<see cref="FlowOodServingOptions.MaxQueueLength"/>). Default 256.</summary>
    public int MaxRowsPerRequest { get; set; } = 256;

    /// <summary>Further options of <see cref="EmbeddingDetector.Load"/> (device, size limit). Code only.
    /// <see cref="FlowOodServingOptions.TargetFalsePositiveRate"/>, when set, overrides the file's α.</summary>
    public ModelLoadOptions? LoadOptions { get; set; }

    internal override string ModelPath => DetectorPath;

    internal override string Section => nameof(FlowOodEmbeddingOptions);
}
