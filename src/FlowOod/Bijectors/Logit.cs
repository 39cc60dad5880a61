using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// RealNVP's logit preprocessing: squash [0, 1] into [α, 1 − α], then take the logit, y = logit(α + (1 − 2α)·x).
/// </summary>
/// <remarks>
/// <para>With p = α + (1 − 2α)·x, Forward gives y = log p − log(1 − p) and, per entry,
/// log|dy/dx| = log(1 − 2α) − log p − log(1 − p) = log(1 − 2α) + softplus(y) + softplus(−y); LogDet sums it over the
/// event. Inverse: x = (sigmoid(y) − α) / (1 − 2α), LogDet = −(the same sum). α = 0.05 in Dinh et al. (2017) and
/// Kirichenko et al. (2020). Inputs are expected in [0, 1] (e.g. the output of <see cref="UniformDequantization"/>).</para>
/// </remarks>
public sealed partial class Logit : Bijector
{
    private readonly double alpha;

    /// <summary>Creates the layer.</summary>
    /// <param name="alpha">α ∈ (0, ½); default 0.05.</param>
    /// <exception cref="ArgumentOutOfRangeException">α is not in (0, ½).</exception>
    public Logit(double alpha = 0.05)
        : base(nameof(Logit))
    {
        if (!(alpha > 0 && alpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must lie in (0, 0.5).");
        }

        this.alpha = alpha;
        RegisterComponents();
    }

    /// <summary>α, the margin kept from 0 and 1.</summary>
    public double Alpha => alpha;

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        var p = input.Times(1 - (2 * alpha)).PlusInPlace(alpha);
        var output = p.log().sub_(p.neg().log1p_());
        return (output, LogDetOf(output));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var output = input.sigmoid().MinusInPlace(alpha).DivideInPlace(1 - (2 * alpha));
        return (output, LogDetOf(input).neg_());
    }

    /// <summary>
    /// Σ [log(1 − 2α) + softplus(y) + softplus(−y)] per example, y the logit-space value; softplus(y) + softplus(−y) is
    /// computed as |y| + 2·log1p(e^−|y|), which is exact and never overflows.
    /// </summary>
    private Tensor LogDetOf(Tensor logits)
    {
        // log1p out of place: exp's backward needs its output unchanged (an in-place log1p_ broke every gradient
        // through this layer).
        var magnitude = logits.abs();
        var perEntry = magnitude.neg().exp_().log1p().TimesInPlace(2.0).PlusInPlace(magnitude).PlusInPlace(Math.Log(1 - (2 * alpha)));
        return SumPerExample(perEntry);
    }

    /// <inheritdoc/>
    public override string ToString() => $"Logit(alpha={alpha})";
}
