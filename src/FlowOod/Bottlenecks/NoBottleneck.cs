using System;
using TorchSharp;

namespace FlowOod.Bottlenecks;

/// <summary>No bottleneck: the features pass through unchanged (the default of every conditioner factory).</summary>
/// <remarks>
/// <see cref="Create"/> returns an identity module without parameters, <c>[N, featureShape...]</c> →
/// <c>[N, featureShape...]</c>. <see cref="Conditioners.ResNetConditionerFactory"/> recognises this strategy and keeps RealNVP's
/// layout (with skip aggregation) unchanged.
/// </remarks>
public sealed class NoBottleneck : IBottleneck
{
    private NoBottleneck()
    {
    }

    /// <summary>The shared instance; the strategy has no state.</summary>
    public static NoBottleneck Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shape is empty or has a non-positive dimension.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] featureShape)
    {
        Shapes.CheckEventShape(featureShape, nameof(featureShape));
        return torch.nn.Identity();
    }

    /// <inheritdoc/>
    public override string ToString() => "NoBottleneck";
}
