using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>
/// Builds pixel-autoregressive image flows: dequantization → logit → a stack of <see cref="AutoregressiveAffine"/>
/// layers on the full image, alternating raster and reverse-raster order.
/// </summary>
/// <remarks>
/// The latent z has the input's shape <c>[N, C, H, W]</c>. Scoring (the forward direction) costs one network call per
/// layer; sampling costs H·W calls per layer. The flow's input is 8-bit images scaled to [0, 1] (input range (0, 1), 256
/// discretization levels), as for <see cref="SingleScaleRealNvp.Create"/>.
/// </remarks>
public static class AutoregressiveFlow
{
    /// <summary>Creates an autoregressive flow for 8-bit images scaled to [0, 1].</summary>
    /// <param name="imageShape">The event shape <c>[C, H, W]</c>.</param>
    /// <param name="options">Depth, window and network, e.g. <see cref="AutoregressiveFlowOptions.Local"/>.</param>
    /// <param name="device">The device every parameter is created on (default CPU).</param>
    /// <returns>A flow with input range [0, 1] and 256 discretization levels.</returns>
    /// <exception cref="ArgumentException">The shape is not <c>[C, H, W]</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static NormalizingFlow Create(long[] imageShape, AutoregressiveFlowOptions options, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var shape = ImageFlow.CheckShape(imageShape, "An autoregressive flow");
        var layers = Enumerable.Range(0, options.Layers).Select(k => (Bijector)new AutoregressiveAffine(
            shape, options.Window, options.Width, options.ContextLayers, options.Blocks, reverse: k % 2 == 1, options.Scale, device));
        var flow = ImageFlow.Create(shape, layers, options.LogitAlpha, options.DequantizationNoise);
        flow.Architecture = FlowArchitecture.Of(options);
        return flow;
    }
}
