using System;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Maps the raw scale output ŝ of an affine coupling's st-network to the log-scale s, so the coupling multiplies by
/// exp(s). Presets: <see cref="RealNvpTanh"/> (the default), <see cref="GlowSigmoid"/> and <see cref="SoftClamp"/>.
/// </summary>
/// <remarks>
/// <para>The log-scale is what enters the log-determinant (<see cref="AffineCoupling"/> sums s over the transformed
/// entries), so every preset returns s = log(scale) directly instead of the scale, which keeps the log-determinant
/// exact where the scale underflows. Bounding s is the usual cure for NaN/inf in deep affine flows: an unbounded exp(ŝ)
/// compounds over many layers, especially in the inverse (sampling) direction.</para>
/// <list type="table">
/// <listheader><term>preset</term><description>s as a function of ŝ (element-wise)</description></listheader>
/// <item><term><see cref="RealNvpTanh"/></term><description>s = σ ⊙ tanh(ŝ), σ a learnable per-channel scale
/// (a parameter named <c>scale</c> of the coupling, initialised to 1); |s| ≤ |σ|. RealNVP as in Kirichenko et al.
/// (2020)'s code.</description></item>
/// <item><term><see cref="GlowSigmoid"/></term><description>exp(s) = sigmoid(ŝ + 2), i.e.
/// s = log sigmoid(ŝ + 2) = −softplus(−(ŝ + 2)); s &lt; 0, so every coupling contracts, and s ≈ −0.127 at ŝ = 0.
/// Glow (Kingma &amp; Dhariwal 2018).</description></item>
/// <item><term><see cref="SoftClamp"/>(c)</term><description>s = c·(2/π)·atan(ŝ/c); |s| &lt; c and s ≈ ŝ for
/// |ŝ| ≪ c. The soft clamp of FrEIA-style invertible networks.</description></item>
/// </list>
/// <para>Shapes: ŝ is the scale half of the st-network output, <c>[N, Ct, spatial...]</c> with Ct the channels the
/// coupling transforms; s has the same shape. The learnable scale of <see cref="RealNvpTanh"/> has shape
/// <c>[Ct, 1, ...]</c> (one value per transformed channel, broadcast over the spatial dimensions).</para>
/// <para>A custom activation derives from this class, overrides <see cref="LogScale"/> and, when it needs the
/// per-channel learnable scale, returns true from <see cref="UsesLearnableScale"/>. Instances must be stateless
/// (the same instance may be shared by many couplings).</para>
/// </remarks>
[ComponentKind("scale activation")]
public abstract partial class ScaleActivation
{
    /// <summary>Creates the activation.</summary>
    protected ScaleActivation()
    {
    }

    /// <summary>RealNVP's s = σ ⊙ tanh(ŝ) with a learnable per-channel σ (initialised to 1). The default.</summary>
    public static ScaleActivation RealNvpTanh { get; } = new TanhScale();

    /// <summary>Glow's scale sigmoid(ŝ + 2), i.e. s = log sigmoid(ŝ + 2) = −softplus(−(ŝ + 2)).</summary>
    public static ScaleActivation GlowSigmoid { get; } = new SigmoidScale();

    /// <summary>
    /// Whether the coupling should own a learnable per-channel scale σ (parameter <c>scale</c>, initialised to 1) and
    /// pass it to <see cref="LogScale"/>. False unless overridden.
    /// </summary>
    public virtual bool UsesLearnableScale => false;

    /// <summary>The soft clamp s = c·(2/π)·atan(ŝ/c), bounding |s| below <paramref name="bound"/>.</summary>
    /// <param name="bound">c &gt; 0, the bound on |s| (FrEIA's default is 2).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bound"/> is not a positive finite number.</exception>
    public static ScaleActivation SoftClamp(double bound)
    {
        if (!(bound > 0) || double.IsInfinity(bound))
        {
            throw new ArgumentOutOfRangeException(nameof(bound), bound, "The soft-clamp bound must be a positive finite number.");
        }

        return new SoftClampScale(bound);
    }

    /// <summary>Computes the log-scale s from the raw st-network output ŝ.</summary>
    /// <param name="raw">ŝ, shape <c>[N, Ct, spatial...]</c>.</param>
    /// <param name="learnableScale">σ, shape <c>[Ct, 1, ...]</c>, when <see cref="UsesLearnableScale"/> is true;
    /// otherwise null.</param>
    /// <returns>s, a new tensor of the shape of <paramref name="raw"/>.</returns>
    public abstract Tensor LogScale(Tensor raw, Tensor? learnableScale);

    /// <summary>Whether <see cref="HostLogScale"/> computes this activation (the built-in ones; not a subclass of a user's).</summary>
    internal virtual bool HasHostForm => false;

    /// <summary>
    /// <see cref="LogScale"/> of one float32 value in managed code, as libtorch computes it elementwise, with the learnable
    /// scale's entry for its channel (ignored by activations without one). Only where <see cref="HasHostForm"/>.
    /// </summary>
    internal virtual float HostLogScale(float raw, float learnableScale) =>
        throw new NotSupportedException($"The scale activation {this} has no managed form.");
}
