using System;
using System.Linq;
using FlowOod.Bijectors;
using static TorchSharp.torch;

namespace FlowOod;

/// <summary>
/// Runs a bijector with explicit dequantization noise: the noise is an argument of the dequantization step only, as in
/// nflows, whose transforms know nothing of scoring. The step that receives it is the bijector's leading
/// <see cref="UniformDequantization"/> (the bijector itself, or the first step of a <see cref="Chain"/>, recursively);
/// every other step runs exactly as in <see cref="Bijector.Forward(Tensor)"/>.
/// </summary>
public static class BijectorNoise
{
    /// <summary>
    /// <see cref="Bijector.Forward(Tensor)"/> with the dequantization noise <paramref name="noise"/> for this call only: the
    /// leading <see cref="UniformDequantization"/> draws its u from it instead of its own setting. Nothing is written on
    /// the modules or kept in thread state, so calls with different noise may run on different threads at once; a
    /// bijector without dequantization ignores the noise.
    /// </summary>
    /// <param name="bijector">The bijector.</param>
    /// <param name="input">x, shape <c>[N, ...]</c>.</param>
    /// <param name="noise">The dequantization noise of this call (see <see cref="ScoringNoise"/>).</param>
    /// <returns>The output y and the log-determinant, shape <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">The input's shape does not fit the bijector, or the bijector holds a
    /// <see cref="UniformDequantization"/> that is not its leading step (noise reaches the leading step only).</exception>
    public static (Tensor Output, Tensor LogDet) Forward(this Bijector bijector, Tensor input, ScoringNoise noise)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        ArgumentNullException.ThrowIfNull(noise);
        CheckDequantization(bijector, nameof(bijector));
        using var source = noise.Open();
        return Forward(bijector, input, source);
    }

    /// <summary>
    /// The leading dequantization step of <paramref name="bijector"/>, or null when it has none.
    /// </summary>
    /// <exception cref="ArgumentException">A <see cref="UniformDequantization"/> sits elsewhere in the tree.</exception>
    internal static UniformDequantization? CheckDequantization(Bijector bijector, string parameter)
    {
        var leading = Leading(bijector);
        var all = bijector.modules().Prepend(bijector).OfType<UniformDequantization>().ToArray();
        if (all.Length > (leading is null ? 0 : 1))
        {
            throw new ArgumentException(
                "UniformDequantization must be the first step of the transform (the transform itself, or the first step of a "
                + "Chain): dequantization noise is an argument of that step alone. This transform holds "
                + $"{all.Length} dequantization step(s){(leading is null ? ", none of them first" : string.Empty)}.",
                parameter);
        }

        return leading;
    }

    /// <summary>
    /// <see cref="Bijector.Forward(Tensor)"/> with <paramref name="noise"/> given to the leading dequantization step (the
    /// layer's own setting when <paramref name="noise"/> is null or there is no such step): the same steps and sums, bit
    /// for bit, as a Forward whose dequantization draws that noise.
    /// </summary>
    internal static (Tensor Output, Tensor LogDet) Forward(Bijector bijector, Tensor input, NoiseSource? noise)
    {
        if (noise is null || Leading(bijector) is null)
        {
            return bijector.Forward(input);
        }

        using var scope = NewDisposeScope();
        var (output, logDet) = ForwardLeading(bijector, input, noise);
        return scope.MoveToOuter(output, logDet);
    }

    // Recurses down the first steps of chains to the dequantization step; runs in the caller's scope.
    private static (Tensor Output, Tensor LogDet) ForwardLeading(Bijector bijector, Tensor input, NoiseSource noise)
    {
        switch (bijector)
        {
            case UniformDequantization dequantization:
                var uniform = noise.Uniform(input);
                return dequantization.Forward(input, uniform);
            case Chain chain:
                var (output, logDet) = ForwardLeading(chain.Steps[0], input, noise);
                return chain.ForwardFrom(1, output, logDet);
            default:
                throw new InvalidOperationException("Unreachable: only chains lead to a dequantization step.");
        }
    }

    private static UniformDequantization? Leading(Bijector bijector) => bijector switch
    {
        UniformDequantization dequantization => dequantization,
        Chain chain => Leading(chain.Steps[0]),
        _ => null,
    };
}
