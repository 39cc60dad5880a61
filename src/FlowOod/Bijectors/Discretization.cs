using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>Converts log-densities of dequantized k-level data into bits per dimension, stated once for FlowOod.</summary>
/// <remarks>
/// For D-dimensional data with k levels per entry (k = 256 for 8-bit images) and a log-density log p(x) in nats,
/// including the preprocessing log-determinants, the discrete log-likelihood is log p(x) − D·log k and
/// bits/dim = −(log p(x) − D·log k) / (D·ln 2). Kirichenko et al. (2020) use this with k = 256 and x = pixel/255.
/// </remarks>
public static class Discretization
{
    /// <summary>Bits per dimension from per-example log-densities <paramref name="logProb"/> (nats, <c>[N]</c>).</summary>
    /// <param name="logProb">log p(x) per example, shape <c>[N]</c>.</param>
    /// <param name="dimensions">D, entries per example.</param>
    /// <param name="levels">k, discrete levels per entry (256 for 8-bit data).</param>
    /// <returns>A new tensor <c>[N]</c>.</returns>
    public static Tensor BitsPerDim(Tensor logProb, long dimensions, int levels = 256)
    {
        ArgumentNullException.ThrowIfNull(logProb);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimensions);
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 2);
        return logProb.Minus(dimensions * Math.Log(levels)).DivideInPlace(-dimensions * Math.Log(2));
    }

    /// <summary>Bits per dimension from a single log-density in nats.</summary>
    public static double BitsPerDim(double logProb, long dimensions, int levels = 256) =>
        -(logProb - (dimensions * Math.Log(levels))) / (dimensions * Math.Log(2));
}
