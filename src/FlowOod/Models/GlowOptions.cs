using System;
using FlowOod.Bijectors;
using FlowOod.Conditioners;

namespace FlowOod.Models;

/// <summary>
/// Hyper-parameters of <see cref="Glow"/>. Presets: <see cref="Tiny"/>, <see cref="Compact"/> and
/// <see cref="FashionMnistPaper"/>; the defaults are <see cref="FashionMnistPaper"/>'s.
/// </summary>
public sealed record GlowOptions
{
    /// <summary>L, the scales (multi-scale levels), ≥ 1; each starts with a 2×2 squeeze. Default 2 (28×28 images).</summary>
    public int Scales { get; init; } = 2;

    /// <summary>K, flow steps (ActNorm → 1×1 conv → affine coupling) per scale, ≥ 1. Default 16.</summary>
    public int StepsPerScale { get; init; } = 16;

    /// <summary>Feature maps of the default st-network (<see cref="ResNetConditionerFactory"/>). Default 200.</summary>
    public int Width { get; init; } = 200;

    /// <summary>Residual blocks of the default st-network, ≥ 0. Default 3.</summary>
    public int Blocks { get; init; } = 3;

    /// <summary>
    /// The st-network factory, or null (default) for <see cref="ResNetConditionerFactory"/> of <see cref="Width"/> and
    /// <see cref="Blocks"/>. The same factory serves every scale; any <see cref="IConditionerFactory"/> for image
    /// inputs fits, e.g. the Glow paper's 3×3 → 1×1 → zero-initialised 3×3 convnet.
    /// </summary>
    public IConditionerFactory? Conditioner { get; init; }

    /// <summary>
    /// Whether the 1×1 convolutions are <see cref="LuInvertibleConv1x1"/> (true, default: always invertible, O(C)
    /// log-determinant) or <see cref="InvertibleConv1x1"/> (false: unconstrained weight with a float64 slogdet, as in
    /// Kirichenko et al. 2020).
    /// </summary>
    public bool LuDecomposedConvolution { get; init; } = true;

    /// <summary>The couplings' scale activation. Default <see cref="ScaleActivation.GlowSigmoid"/>, Glow's sigmoid(ŝ + 2).</summary>
    public ScaleActivation ScaleActivation { get; init; } = ScaleActivation.GlowSigmoid;

    /// <summary>α of the logit preprocessing. Default 0.05, as for RealNVP.</summary>
    public double LogitAlpha { get; init; } = 0.05;

    /// <summary>Whether uniform dequantization noise is drawn (true, default) or fixed at bin centres.</summary>
    public bool DequantizationNoise { get; init; } = true;

    /// <summary>A smoke-test preset: 2 scales × 2 steps, width 16, 1 residual block. Builds and trains in well under a second on 8×8 images.</summary>
    public static GlowOptions Tiny { get; } = new() { Scales = 2, StepsPerScale = 2, Width = 16, Blocks = 1 };

    /// <summary>The compact CPU preset: 2 scales × 8 steps, width 32, 1 residual block.</summary>
    public static GlowOptions Compact { get; } = new() { Scales = 2, StepsPerScale = 8, Width = 32, Blocks = 1 };

    /// <summary>
    /// The size of Kirichenko et al. (2020)'s Glow for Fashion-MNIST/MNIST: 2 scales × 16 steps, width 200, 3 residual
    /// blocks. They used a 3-layer highway st-network of width 200 (69.4M parameters on 1×28×28); this preset's ResNet
    /// st-network has two 3×3 convolutions per block like a highway layer, so the model is of similar size (about 75M
    /// parameters on 1×28×28). Paper training: RMSprop, lr 5e-5, batch 32.
    /// </summary>
    public static GlowOptions FashionMnistPaper { get; } = new() { Scales = 2, StepsPerScale = 16, Width = 200, Blocks = 3 };

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="ScaleActivation"/> is null.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Scales, 1, nameof(Scales));
        ArgumentOutOfRangeException.ThrowIfLessThan(StepsPerScale, 1, nameof(StepsPerScale));
        ArgumentOutOfRangeException.ThrowIfLessThan(Width, 1, nameof(Width));
        ArgumentOutOfRangeException.ThrowIfNegative(Blocks, nameof(Blocks));
        ArgumentNullException.ThrowIfNull(ScaleActivation, nameof(ScaleActivation));
        if (!(LogitAlpha > 0 && LogitAlpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(LogitAlpha), LogitAlpha, "LogitAlpha must lie in (0, 0.5).");
        }
    }
}
