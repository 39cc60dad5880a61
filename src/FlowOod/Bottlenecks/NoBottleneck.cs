using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Bottlenecks;

/// <summary>No bottleneck: the features pass through unchanged (the default of every conditioner factory).</summary>
/// <remarks>
/// <see cref="Create"/> returns an identity module without parameters, <c>[N, featureShape...]</c> →
/// <c>[N, featureShape...]</c>. <c>Conditioners.ResNetConditionerFactory</c> recognises this strategy and keeps RealNVP's
/// layout (with skip aggregation) unchanged.
/// </remarks>
[ComponentName("none")]
public sealed class NoBottleneck : IBottleneck, IComponent<NoBottleneck>
{
    private NoBottleneck()
    {
    }

    /// <summary>The shared instance; the strategy has no state.</summary>
    public static NoBottleneck Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shape is empty or has a non-positive dimension.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] featureShape, torch.Device? device = null)
    {
        Shapes.CheckEventShape(featureShape, nameof(featureShape));
        return torch.nn.Identity();
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
    }

    /// <summary>Reads the stored bottleneck (it has no settings).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The shared instance.</returns>
    public static NoBottleneck Read(ComponentReader reader) => Instance;

    /// <inheritdoc/>
    public override string ToString() => "NoBottleneck";
}
