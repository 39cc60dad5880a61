using System;
using FlowOod.Gating;
using static TorchSharp.torch;

namespace FlowOod.AspNetCore;

/// <summary>
/// Settings of the FlowOod gate service (<see cref="FlowOodServiceCollectionExtensions.AddFlowOodGate(Microsoft.Extensions.DependencyInjection.IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration, Action{FlowOodGateOptions}?)"/>),
/// bound from configuration (e.g. the section <c>FlowOod:Gate</c>) and/or set in code, validated when the host starts.
/// The serving settings (batching, limits, drift, reload) are those of <see cref="FlowOodServingOptions"/>.
/// </summary>
public sealed class FlowOodGateOptions : FlowOodServingOptions
{
    /// <summary>The gate file written by <see cref="OodGate.Save"/> (required). Replace it atomically (write a temporary
    /// file, then rename it over this path) to hot-reload the gate.</summary>
    public string GatePath { get; set; } = string.Empty;

    /// <summary>
    /// Creates the classifier the gate was fitted with (in evaluation mode), once, when the host starts. A classifier made
    /// by this factory is owned by the service: it is disposed when the service provider is disposed. When null, the
    /// classifier is resolved from the container as <c>nn.Module&lt;Tensor, Tensor&gt;</c> and stays the container's
    /// (the service never disposes it). Set in code only (configuration cannot bind a delegate).
    /// </summary>
    public Func<IServiceProvider, nn.Module<Tensor, Tensor>>? ClassifierFactory { get; set; }

    /// <summary>Further options of <see cref="OodGate.Load"/> (device, model-file options, whose catalog holds the
    /// feature extractor of a gate fitted with one). Code only. <see cref="FlowOodServingOptions.TargetFalsePositiveRate"/>, when set, takes precedence over theirs.</summary>
    public GateLoadOptions? LoadOptions { get; set; }

    internal override string ModelPath => GatePath;

    internal override string Section => nameof(FlowOodGateOptions);
}
