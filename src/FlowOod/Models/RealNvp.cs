using System;
using System.Collections.Generic;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>Builds RealNVP image flows with the multi-scale architecture of Dinh et al. (2017).</summary>
/// <remarks>
/// <para>Structure, as in Kirichenko et al. (2020)'s code: dequantization → logit(α) → scale 1 → … → scale L. Every
/// scale but the last is: 3 checkerboard couplings → 2×2 squeeze → 3 channel-wise couplings (st-network width doubled)
/// → factor out half the channels; the kept half goes to the next scale with the doubled width. The last scale is 4
/// checkerboard couplings. Couplings alternate their masks (reversed on odd layers) and use the ResNet st-network.
/// <see cref="RealNvpOptions.SpatialMask"/> and <see cref="RealNvpOptions.Bottleneck"/> swap in another mask strategy
/// for the checkerboard couplings and an l-bottleneck inside every st-network.</para>
/// <para>FlowOod keeps the latent in the input's shape: after each factor-out the squeezed tensor is unsqueezed again,
/// so the latent z has shape <c>[N, C, H, W]</c> (a fixed permutation of the reference code's flattened latent, which
/// leaves every density unchanged) and latent coordinates sit at the pixel positions they came from.</para>
/// </remarks>
public static class RealNvp
{
    /// <summary>Creates a RealNVP flow for 8-bit images scaled to [0, 1].</summary>
    /// <param name="imageShape">The event shape <c>[C, H, W]</c>; H and W must be divisible by 2^(scales − 1).</param>
    /// <param name="options">Hyper-parameters (e.g. <see cref="RealNvpOptions.Compact"/>).</param>
    /// <param name="device">The device every parameter and buffer is created on (default CPU); nothing is allocated elsewhere first.</param>
    /// <returns>A flow with input range [0, 1] and 256 discretization levels.</returns>
    public static NormalizingFlow Create(long[] imageShape, RealNvpOptions options, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var shape = ImageFlow.CheckShape(imageShape, "RealNVP", 1L << (options.Scales - 1), $"With {options.Scales} scales");
        var flow = ImageFlow.Create(shape, [Scale(shape, 0, options.Width, options, device)], options.LogitAlpha, options.DequantizationNoise);
        flow.Architecture = FlowArchitecture.Of(options);
        return flow;
    }

    private static Chain Scale(long[] shape, int scaleIndex, int width, RealNvpOptions options, torch.Device? device)
    {
        var conditioner = new ResNetConditionerFactory(width, options.Blocks, options.Bottleneck, options.WeightNorm);
        var steps = new List<Bijector>();
        var isLast = scaleIndex == options.Scales - 1;
        var checkerboardLayers = isLast ? 4 : 3;
        for (int i = 0; i < checkerboardLayers; i++)
        {
            steps.Add(new AffineCoupling(shape, options.SpatialMask, i, conditioner, device: device));
        }

        if (isLast)
        {
            return new Chain(steps);
        }

        long c = shape[0], h = shape[1], w = shape[2];
        var squeezed = new[] { 4 * c, h / 2, w / 2 };
        var wideConditioner = new ResNetConditionerFactory(2 * width, options.Blocks, options.Bottleneck, options.WeightNorm);
        steps.Add(new Squeeze());
        for (int i = 0; i < 3; i++)
        {
            steps.Add(new AffineCoupling(squeezed, ChannelMask.Instance, i, wideConditioner, device: device));
        }

        var kept = new[] { 2 * c, h / 2, w / 2 };
        steps.Add(new FactorOut(2 * c, Scale(kept, scaleIndex + 1, 2 * width, options, device)));
        steps.Add(new InverseOf(new Squeeze()));
        return new Chain(steps);
    }
}
