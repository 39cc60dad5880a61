using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>A fixed permutation of the channels (features), dimension 1 of the input; log-determinant 0.</summary>
/// <remarks>
/// <para>With the index vector π (buffer <c>indices</c>, int64 <c>[C]</c>), for input <c>[N, C, ...]</c>:</para>
/// <para>Forward: y[:, i] = x[:, π(i)], LogDet = 0;</para>
/// <para>Inverse: x[:, j] = y[:, π⁻¹(j)] (buffer <c>inverse_indices</c>), LogDet = 0.</para>
/// <para>Factories: <see cref="Reverse"/> (π(i) = C − 1 − i, RealNVP/Glow's fixed reversal) and
/// <see cref="Random"/> (a seeded shuffle). Between couplings that always transform the same half, a permutation is the
/// fixed, cheaper alternative to a learned <see cref="InvertibleConv1x1"/>.</para>
/// </remarks>
public sealed partial class Permutation : Bijector
{
    private readonly Tensor indices;
    private readonly Tensor inverse_indices;
    private readonly long[] permutation;

    /// <summary>Creates the permutation y[:, i] = x[:, π(i)].</summary>
    /// <param name="indices">π: every index 0..C−1 exactly once.</param>
    /// <param name="device">Where to create the index buffers (null: CPU).</param>
    /// <exception cref="ArgumentException"><paramref name="indices"/> is empty or not a permutation of 0..C−1.</exception>
    public Permutation(long[] indices, Device? device = null)
        : base(nameof(Permutation))
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Length == 0)
        {
            throw new ArgumentException("A permutation needs at least one index.", nameof(indices));
        }

        var inverse = new long[indices.Length];
        var seen = new bool[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            var index = indices[i];
            if (index < 0 || index >= indices.Length || seen[index])
            {
                throw new ArgumentException(
                    $"Indices must contain every value 0..{indices.Length - 1} exactly once; entry {i} is {index} (indices: {Shapes.Format(indices)}).",
                    nameof(indices));
            }

            seen[index] = true;
            inverse[index] = i;
        }

        permutation = (long[])indices.Clone();
        using (var scope = NewDisposeScope())
        {
            this.indices = tensor(permutation, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
            inverse_indices = tensor(inverse, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        }

        RegisterComponents();
    }

    /// <summary>π, the source channel of every output channel (a copy).</summary>
    public IReadOnlyList<long> Indices => (long[])permutation.Clone();

    /// <summary>C, the number of channels (features).</summary>
    public long NumChannels => permutation.Length;

    /// <summary>The reversal π(i) = C − 1 − i.</summary>
    /// <param name="numChannels">C.</param>
    /// <param name="device">Where to create the index buffers (null: CPU).</param>
    /// <returns>The permutation.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numChannels"/> is not positive.</exception>
    public static Permutation Reverse(long numChannels, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numChannels);
        return new Permutation(Enumerable.Range(0, checked((int)numChannels)).Select(i => numChannels - 1 - i).ToArray(), device);
    }

    /// <summary>A uniformly random permutation (Fisher–Yates with <see cref="System.Random"/> seeded by <paramref name="seed"/>).</summary>
    /// <remarks>The same seed gives the same permutation on every machine and run; torch's generator is not used.</remarks>
    /// <param name="numChannels">C.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="device">Where to create the index buffers (null: CPU).</param>
    /// <returns>The permutation.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numChannels"/> is not positive.</exception>
    public static Permutation Random(long numChannels, int seed, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numChannels);
        var result = Enumerable.Range(0, checked((int)numChannels)).Select(i => (long)i).ToArray();
#pragma warning disable CA5394 // A reproducible shuffle, not security-relevant.
        var random = new System.Random(seed);
        for (int i = result.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (result[i], result[j]) = (result[j], result[i]);
        }
#pragma warning restore CA5394

        return new Permutation(result, device);
    }

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (input.size(1) != permutation.Length)
        {
            throw new ArgumentException(
                $"Permutation.{direction} expects [N, {permutation.Length}, ...], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.index_select(1, indices), ZeroLogDet(input));

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.index_select(1, inverse_indices), ZeroLogDet(input));

    /// <inheritdoc/>
    public override string ToString() => $"Permutation({Shapes.Format(permutation)})";
}
