using System;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Conditioners;

namespace FlowOod.Models;

/// <summary>
/// Hyper-parameters of <see cref="Glow"/>. Presets: <see cref="Tiny"/>, <see cref="Compact"/> and
/// <see cref="FashionMnistPaper"/>; the defaults are the Glow paper's (2 scales of 16 steps here, convnet width 512,
/// LU-decomposed 1×1 convolutions, sigmoid(ŝ + 2) scales).
/// </summary>
[ComponentName("Glow")]
public sealed record GlowOptions : IFlowBuilderOptions, IComponent<GlowOptions>
{
    /// <summary>L, the scales (multi-scale levels), ≥ 1; each starts with a 2×2 squeeze. Default 2 (28×28 images).</summary>
    public int Scales { get; init; } = 2;

    /// <summary>K, flow steps (ActNorm → 1×1 conv → affine coupling) per scale, ≥ 1. Default 16.</summary>
    public int StepsPerScale { get; init; } = 16;

    /// <summary>Feature maps of the default st-network (<see cref="GlowConvConditionerFactory"/>). Default 512, the Glow paper's.</summary>
    public int Width { get; init; } = 512;

    /// <summary>
    /// The st-network factory, or null (default) for the Glow paper's convnet, <see cref="GlowConvConditionerFactory"/>
    /// of <see cref="Width"/> (then <see cref="Width"/> is ignored). The same factory serves every scale; any
    /// <see cref="IConditionerFactory"/> for image inputs fits, e.g. <see cref="HighwayConditionerFactory"/> (Kirichenko
    /// et al. 2020) or <see cref="ResNetConditionerFactory"/>.
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

    /// <summary>A smoke-test preset: 2 scales × 2 steps, Glow convnet of width 16. Builds and trains in well under a second on 8×8 images.</summary>
    public static GlowOptions Tiny { get; } = new() { Scales = 2, StepsPerScale = 2, Width = 16 };

    /// <summary>The compact CPU preset: 2 scales × 8 steps, Glow convnet of width 64.</summary>
    public static GlowOptions Compact { get; } = new() { Scales = 2, StepsPerScale = 8, Width = 64 };

    /// <summary>
    /// Kirichenko et al. (2020)'s Glow for Fashion-MNIST/MNIST: 2 scales × 16 steps, highway st-networks of width 200
    /// with 3 highway layers, and the plain (not LU) 1×1 convolution of their code; 69,377,856 parameters on 1×28×28
    /// (their notebook reports 69,378,048). The scale activation stays Glow's sigmoid(ŝ + 2). Paper training: RMSprop,
    /// lr 5e-5, batch 32, weight decay 5e-5 on all parameters.
    /// </summary>
    public static GlowOptions FashionMnistPaper { get; } = new()
    {
        Scales = 2,
        StepsPerScale = 16,
        Width = 200,
        Conditioner = new HighwayConditionerFactory(width: 200, layers: 3),
        LuDecomposedConvolution = false,
    };

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("scales", Scales);
        writer.WriteInt("stepsPerScale", StepsPerScale);
        writer.WriteInt("width", Width);
        writer.WriteOptionalComponent("conditioner", Conditioner);
        writer.WriteBool("luDecomposedConvolution", LuDecomposedConvolution);
        writer.WriteComponent("scaleActivation", ScaleActivation);
        writer.WriteDouble("logitAlpha", LogitAlpha);
        writer.WriteBool("dequantizationNoise", DequantizationNoise);
    }

    /// <summary>Reads stored options, bounding every size (widths ≤ 65536, depths ≤ 4096).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The options.</returns>
    public static GlowOptions Read(ComponentReader reader) => new()
    {
        Scales = reader.ReadInt("scales", 1, 16),
        StepsPerScale = reader.ReadInt("stepsPerScale", 1, ComponentLimits.MaxDepth),
        Width = reader.ReadInt("width", 1, ComponentLimits.MaxWidth),
        Conditioner = reader.ReadOptionalComponent<IConditionerFactory>("conditioner"),
        LuDecomposedConvolution = reader.ReadBool("luDecomposedConvolution"),
        ScaleActivation = reader.ReadComponent<ScaleActivation>("scaleActivation"),
        LogitAlpha = reader.ReadDouble("logitAlpha", 1e-9, 0.5 - 1e-9),
        DequantizationNoise = reader.ReadBool("dequantizationNoise"),
    };

    /// <inheritdoc/>
    public NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null) => Glow.Create(eventShape, this, device);

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="ScaleActivation"/> is null.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Scales, 1, nameof(Scales));
        ArgumentOutOfRangeException.ThrowIfLessThan(StepsPerScale, 1, nameof(StepsPerScale));
        ArgumentOutOfRangeException.ThrowIfLessThan(Width, 1, nameof(Width));
        ArgumentNullException.ThrowIfNull(ScaleActivation, nameof(ScaleActivation));
        if (!(LogitAlpha > 0 && LogitAlpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(LogitAlpha), LogitAlpha, "LogitAlpha must lie in (0, 0.5).");
        }
    }
}
