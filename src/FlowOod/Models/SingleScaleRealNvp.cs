using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>
/// Builds single-scale RealNVP image flows (no squeeze, no factor-out): dequantization → logit → a stack of affine
/// couplings, as in Kirichenko et al. (2020)'s cycle-mask, checkerboard and half-mask experiments.
/// </summary>
/// <remarks>
/// <para>Structure: <see cref="UniformDequantization"/> → <see cref="Logit"/>(α) → n × <see cref="AffineCoupling"/>,
/// coupling k using mask <c>options.Mask.Create(imageShape, k)</c> and an st-network from
/// <c>options.Conditioner</c>. Every coupling works on the full image <c>[C, H, W]</c>, and the latent z has the input's
/// shape <c>[N, C, H, W]</c>. The flow's input is 8-bit images scaled to [0, 1] (input range (0, 1), 256
/// discretization levels), as for <see cref="RealNvp.Create"/>.</para>
/// <para>Presets for the paper's four models are in <see cref="SingleScaleRealNvpOptions"/>
/// (<see cref="SingleScaleRealNvpOptions.RealNvp8Layers"/>, <see cref="SingleScaleRealNvpOptions.RealNvpMaskHorizontal"/>,
/// <see cref="SingleScaleRealNvpOptions.RealNvpCycleMask"/>,
/// <see cref="SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers"/>).</para>
/// </remarks>
public static class SingleScaleRealNvp
{
    /// <summary>Creates a single-scale RealNVP for 8-bit images scaled to [0, 1].</summary>
    /// <param name="imageShape">The event shape <c>[C, H, W]</c> (the mask strategy may restrict it further).</param>
    /// <param name="options">The mask, depth and st-network, e.g. <see cref="SingleScaleRealNvpOptions.RealNvpCycleMask"/>.</param>
    /// <param name="device">The device every parameter and buffer is created on (default CPU); nothing is allocated elsewhere first.</param>
    /// <returns>A flow with input range [0, 1] and 256 discretization levels.</returns>
    /// <exception cref="ArgumentException">
    /// The shape is not <c>[C, H, W]</c>, or the mask strategy or st-network cannot handle it (e.g. odd H for the
    /// cycle-mask).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static NormalizingFlow Create(long[] imageShape, SingleScaleRealNvpOptions options, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var shape = ImageFlow.CheckShape(imageShape, "A single-scale RealNVP");
        var couplings = Enumerable.Range(0, options.Couplings).Select(k => (Bijector)new AffineCoupling(shape, options.Mask, k, options.Conditioner, device: device));
        var flow = ImageFlow.Create(shape, couplings, options.LogitAlpha, options.DequantizationNoise);
        flow.Architecture = FlowArchitecture.Of(options);
        return flow;
    }
}
