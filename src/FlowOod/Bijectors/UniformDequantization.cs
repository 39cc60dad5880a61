using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Uniform dequantization of 8-bit data scaled to [0, 1]: y = (255·x + u) / 256 with u ~ U[0, 1) per entry.
/// </summary>
/// <remarks>
/// <para>Input x = pixel / 255 (what image loaders produce); output y ∈ [0, 1) is a continuous variable whose bins of
/// width 1/256 correspond to the 256 pixel values. For a fixed noise draw the map is affine with
/// LogDet = D·log(255/256) per example (D = entries per example); the inverse quantizes,
/// x = clamp(⌊256·y⌋, 0, 255) / 255, with LogDet = −D·log(255/256), so Inverse(Forward(x)) = x exactly for 8-bit x
/// (u is capped one rounding step below 1 so that 255·x + u never rounds up into the next bin).</para>
/// <para>With <c>addNoise: false</c> the noise is fixed at u = ½ (bin centres), which makes the layer deterministic.
/// Kirichenko et al. (2020) draw fresh noise for training and evaluation alike; so does FlowOod by default.</para>
/// <para>The noise of one call is an argument of that call, given to this step only, never state of the layer nor of
/// the thread: the flow passes the noise of a scoring call (<c>ScoringNoise</c>, as every scorer does) or the trainer's
/// seeded generator explicitly to its dequantization step, which must be the flow's first step, and runs the rest of
/// the transform as usual; the other bijectors know nothing of noise, as in nflows. <see cref="Bijector.Forward(Tensor)"/>
/// alone uses the layer's own setting: random u from TorchSharp's global generator, as for any torch module, or ½. The
/// layer holds no mutable state, so calls with different noise may run on different threads at once.</para>
/// <para>Bits per dimension then use the −D·log 256 discretization term (see <see cref="Discretization"/>); together
/// with this layer's log(255/256) that matches Kirichenko et al.'s code exactly, which is log₂(256/255) ≈ 0.0056
/// bits/dim above the (pixel + u)/256 convention of other papers.</para>
/// </remarks>
public sealed partial class UniformDequantization : Bijector
{
    private static readonly double LogScale = Math.Log(255.0 / 256.0);
    private readonly bool addNoise;

    /// <summary>Creates the layer.</summary>
    /// <param name="addNoise">Draw u ~ U[0, 1) (default) or use u = ½.</param>
    public UniformDequantization(bool addNoise = true)
        : base(nameof(UniformDequantization))
    {
        this.addNoise = addNoise;
        RegisterComponents();
    }

    /// <summary>Whether noise is drawn (otherwise u = ½).</summary>
    public bool AddsNoise => addNoise;

    /// <summary>
    /// <see cref="Bijector.Forward(Tensor)"/> with the noise <paramref name="uniform"/> of this call instead of the layer's
    /// own setting: u ∈ [0, 1) for every entry of <paramref name="input"/> (capped one rounding step below 1 here).
    /// </summary>
    /// <param name="input">x, shape <c>[N, ...]</c>.</param>
    /// <param name="uniform">u, the shape, dtype and device of <paramref name="input"/>; not modified.</param>
    /// <returns>The output y and the log-determinant, shape <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">The input does not fit, or u's shape differs from it.</exception>
    internal (Tensor Output, Tensor LogDet) Forward(Tensor input, Tensor uniform)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(uniform);
        ValidateInput(input, nameof(Forward));
        if (!uniform.Sizes().AsSpan().SequenceEqual(input.Sizes()))
        {
            throw new ArgumentException(
                $"The noise u must have the input's shape {Shapes.Format(input.Sizes())}, got {Shapes.Format(uniform.Sizes())}.", nameof(uniform));
        }

        using var scope = NewDisposeScope();
        var (output, logDet) = Dequantize(input, Capped(uniform.clone(), input));
        return scope.MoveToOuter(output, logDet);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) =>
        Dequantize(input, addNoise ? Capped(rand_like(input), input) : input.FullLike(0.5));

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var output = input.Times(256.0).floor_().ClampInPlace(0.0, 255.0).DivideInPlace(255.0);
        return (output, LogDet(input, -LogScale));
    }

    // y = (255·x + u) / 256 and its log-determinant.
    private static (Tensor Output, Tensor LogDet) Dequantize(Tensor input, Tensor noise) =>
        (input.Times(255.0).PlusInPlace(noise).DivideInPlace(256.0), LogDet(input, LogScale));

    // u is capped at 1 − 128·eps: 255·x + u is below 256, where the spacing of the dtype is at most 128·eps, so the sum
    // cannot round up to the next level k + 1 (in float32 it did for u > 1 − 2⁻¹⁷ and k ≥ 128). Caps in place.
    private static Tensor Capped(Tensor uniform, Tensor like) => uniform.ClampMaxInPlace(1.0 - (128 * finfo(like.dtype).eps));

    private static Tensor LogDet(Tensor like, double perEntry)
    {
        var entries = like.numel() / like.size(0);
        return ScalarMath.Full(like.size(0), perEntry * entries, like.dtype, like.device);
    }

    /// <inheritdoc/>
    public override string ToString() => $"UniformDequantization(noise={addNoise})";
}
