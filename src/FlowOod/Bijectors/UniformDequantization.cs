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
/// <para>The noise of one call is an argument of that call, never state of the layer: a
/// <see cref="ScoringNoise"/> passed to <see cref="NormalizingFlow.LogProb(Tensor, ScoringNoise)"/> (as every scorer
/// does) replaces the layer's own setting for that call, and the trainer draws u from its own seeded generator. Without
/// either, random u comes from TorchSharp's global generator, as for any torch module. The layer holds no mutable
/// state, so calls with different noise may run on different threads at once.</para>
/// <para>Bits per dimension then use the −D·log 256 discretization term (see <see cref="Discretization"/>); together
/// with this layer's log(255/256) that matches Kirichenko et al.'s code exactly, which is log₂(256/255) ≈ 0.0056
/// bits/dim above the (pixel + u)/256 convention of other papers.</para>
/// </remarks>
public sealed class UniformDequantization : Bijector
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

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        // u is capped at 1 − 128·eps: 255·x + u is below 256, where the spacing of the dtype is at most 128·eps, so the
        // sum cannot round up to the next level k + 1 (in float32 it did for u > 1 − 2⁻¹⁷ and k ≥ 128).
        var noise = Noise(input);
        var output = input.Times(255.0).PlusInPlace(noise).DivideInPlace(256.0);
        return (output, LogDet(input, LogScale));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var output = input.Times(256.0).floor_().ClampInPlace(0.0, 255.0).DivideInPlace(255.0);
        return (output, LogDet(input, -LogScale));
    }

    private Tensor Noise(Tensor input)
    {
        Tensor uniform;
        if (NoiseContext.CurrentOverride is { } source)
        {
            uniform = source.Uniform(input);
        }
        else if (!addNoise)
        {
            return input.FullLike(0.5);
        }
        else
        {
            uniform = NoiseContext.CurrentGenerator is { } generator
                ? rand(input.shape, dtype: input.dtype, device: input.device, generator: generator)
                : rand_like(input);
        }

        return uniform.ClampMaxInPlace(1.0 - (128 * finfo(input.dtype).eps));
    }

    private static Tensor LogDet(Tensor like, double perEntry)
    {
        var entries = like.numel() / like.shape[0];
        return ScalarMath.Full(like.shape[0], perEntry * entries, like.dtype, like.device);
    }

    /// <inheritdoc/>
    public override string ToString() => $"UniformDequantization(noise={addNoise})";
}
