using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Distributions;

/// <summary>The standard normal N(0, I_D): log p(z) = −½·Σ zᵢ² − (D/2)·log 2π.</summary>
public sealed class StandardNormal : IBaseDistribution
{
    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    /// <summary>The shared instance; the distribution has no state.</summary>
    public static StandardNormal Instance { get; } = new();

    private StandardNormal()
    {
    }

    /// <inheritdoc/>
    public Tensor LogProb(Tensor latent)
    {
        ArgumentNullException.ThrowIfNull(latent);
        using var scope = NewDisposeScope();
        var perExample = latent.flatten(1);
        var result = perExample.Squared().sum(1).TimesInPlace(-0.5).MinusInPlace(perExample.size(1) * HalfLogTwoPi);
        return scope.MoveToOuter(result);
    }

    /// <inheritdoc/>
    public Tensor Sample(long count, long[] eventShape, ScalarType dtype, Device device, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentNullException.ThrowIfNull(eventShape);
        var shape = new long[eventShape.Length + 1];
        shape[0] = count;
        eventShape.CopyTo(shape, 1);
        return randn(shape, dtype: dtype, device: device, generator: generator);
    }

    /// <inheritdoc/>
    public override string ToString() => "StandardNormal";
}
