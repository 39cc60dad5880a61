using System;
using System.Collections.Generic;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>Builds Glow image flows (Kingma &amp; Dhariwal 2018) with FlowOod's multi-scale layout.</summary>
/// <remarks>
/// <para>Structure: dequantization → logit(α) → scale 1 → … → scale L. Every scale is: 2×2 squeeze
/// (<c>[C, H, W]</c> → <c>[4C, H/2, W/2]</c>) → K steps of [<see cref="ActNorm"/> → invertible 1×1 convolution
/// (<see cref="LuInvertibleConv1x1"/> by default, <see cref="InvertibleConv1x1"/> by option) →
/// <see cref="AffineCoupling"/> with the non-reversed <see cref="ChannelMask"/> (the first half of the channels is
/// transformed, conditioned on the second; channel mixing comes from the 1×1 convolutions) and Glow's
/// sigmoid(ŝ + 2) scale] → on every scale but the last, factor out half the channels (the kept 2C go to the next
/// scale) → unsqueeze. The st-network is the Glow paper's 3×3 → 1×1 → zero-initialised 3×3 convnet
/// (<see cref="GlowConvConditionerFactory"/>) unless <see cref="GlowOptions.Conditioner"/> says otherwise.</para>
/// <para>Preprocessing: Glow's own code maps pixels to x − ½; FlowOod uses RealNVP's logit with α = 0.05 instead, as
/// Kirichenko et al. (2020) do for both models, so Glow and RealNVP densities share one input space and their
/// bits/dim are directly comparable.</para>
/// <para>As in <see cref="RealNvp"/>, <see cref="FactorOut"/> and <see cref="InverseOf"/>(<see cref="Squeeze"/>) keep
/// the latent in the input's shape <c>[N, C, H, W]</c>. Differences from the Glow paper: the factored-out halves and
/// the top latent get the standard normal prior (no learned, conditional split prior), and the st-network has no ActNorm
/// inside (see <see cref="GlowConvConditionerFactory"/>).</para>
/// <para><b>ActNorm needs data-dependent initialisation.</b> A new Glow flow cannot run until its ActNorm layers are
/// initialised: call <see cref="ActNorm.InitializeAll(torch.nn.Module{torch.Tensor, torch.Tensor}, torch.Tensor, bool)"/> on a first batch of
/// training data before training (the trainer does not do it), and not after loading trained weights (the
/// initialisation state is part of the state dict).</para>
/// <example>
/// <code>
/// using var flow = Glow.Create([1, 28, 28], GlowOptions.Compact);
/// using (var firstBatch = trainImages.narrow(0, 0, 256))   // [N, 1, 28, 28], values in [0, 1]
/// {
///     ActNorm.InitializeAll(flow, firstBatch);
/// }
///
/// var result = new FlowTrainer(flow, new TrainingOptions { Steps = 2000, LearningRate = 1e-3 }).Train(trainImages);
/// using var bitsPerDim = flow.BitsPerDim(testImages);
/// </code>
/// </example>
/// </remarks>
public static class Glow
{
    /// <summary>Creates a Glow flow for 8-bit images scaled to [0, 1]; its ActNorm layers start uninitialised.</summary>
    /// <param name="imageShape">The event shape <c>[C, H, W]</c>; H and W must be divisible by 2^L (L = scales).</param>
    /// <param name="options">Hyper-parameters (e.g. <see cref="GlowOptions.Compact"/>).</param>
    /// <param name="device">The device every parameter and buffer is created on (default CPU); nothing is allocated elsewhere first.</param>
    /// <returns>A flow with input range [0, 1] and 256 discretization levels.</returns>
    /// <exception cref="ArgumentException">The image shape does not fit the options.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static NormalizingFlow Create(long[] imageShape, GlowOptions options, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var shape = ImageFlow.CheckShape(imageShape, "Glow", 1L << options.Scales, $"With {options.Scales} scales (a squeeze each)");
        var conditioner = options.Conditioner ?? new GlowConvConditionerFactory(options.Width);
        var flow = ImageFlow.Create(shape, [Scale(shape, 0, conditioner, options, device)], options.LogitAlpha, options.DequantizationNoise);
        flow.Architecture = FlowArchitecture.Of(options);
        return flow;
    }

    private static Chain Scale(long[] shape, int scaleIndex, IConditionerFactory conditioner, GlowOptions options, torch.Device? device)
    {
        long c = shape[0], h = shape[1], w = shape[2];
        var squeezed = new[] { 4 * c, h / 2, w / 2 };
        var steps = new List<Bijector> { new Squeeze() };
        for (int k = 0; k < options.StepsPerScale; k++)
        {
            steps.Add(new ActNorm(4 * c, device));
            steps.Add(options.LuDecomposedConvolution ? new LuInvertibleConv1x1(4 * c, device) : new InvertibleConv1x1(4 * c, device));
            steps.Add(new AffineCoupling(squeezed, ChannelMask.Instance, 0, conditioner, options.ScaleActivation, device));
        }

        if (scaleIndex < options.Scales - 1)
        {
            var kept = new[] { 2 * c, h / 2, w / 2 };
            steps.Add(new FactorOut(2 * c, Scale(kept, scaleIndex + 1, conditioner, options, device)));
        }

        steps.Add(new InverseOf(new Squeeze()));
        return new Chain(steps);
    }
}
