using System;
using FlowOod.Bijectors;
using FlowOod.Components;

namespace FlowOod.Models;

/// <summary>
/// Hyper-parameters of <see cref="AutoregressiveFlow"/>: a stack of <see cref="AutoregressiveAffine"/> layers on the
/// full image (no squeeze), alternating raster and reverse-raster order. Preset: <see cref="Local"/>.
/// </summary>
/// <remarks>
/// <para>Each layer's network sees a causal window: the masked k×k first convolution, widened by one pixel per masked
/// 3×3 context layer; 1×1 residual blocks add capacity without widening it. With <see cref="ContextLayers"/> = 0 and one
/// layer, each pixel's conditional depends on its (k − 1)/2 rows above and columns either side only, the local model of
/// Zhang, Zhang &amp; McDonagh (2021).</para>
/// </remarks>
[ComponentName("AutoregressiveFlow")]
public sealed record AutoregressiveFlowOptions : IFlowBuilderOptions, IComponent<AutoregressiveFlowOptions>
{
    /// <summary>
    /// A deliberately <i>local</i> autoregressive flow: one layer whose network is a masked 7×7 convolution and one 1×1
    /// residual block of width 32 (each pixel's conditional sees the 24 pixels before it in its 7×7 window; about 4 M
    /// multiply-adds per 28×28 image, the cost of a small Glow). The reference model of
    /// <c>Scoring.LocalLikelihoodRatioScorer</c>.
    /// </summary>
    public static AutoregressiveFlowOptions Local { get; } = new() { Layers = 1, Window = 7, Width = 32, ContextLayers = 0, Blocks = 1 };

    /// <summary>Autoregressive layers, ≥ 1; layer k runs in reverse order when k is odd. Default 1.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>k, the odd size of each layer's masked first convolution (1 … 31). Default 7.</summary>
    public int Window { get; init; } = 7;

    /// <summary>Feature maps inside each layer's network, ≥ 1. Default 64.</summary>
    public int Width { get; init; } = 64;

    /// <summary>Masked 3×3 layers after the first convolution (each widens the window by a pixel), ≥ 0. Default 0.</summary>
    public int ContextLayers { get; init; }

    /// <summary>1×1 residual blocks per network, ≥ 0. Default 2.</summary>
    public int Blocks { get; init; } = 2;

    /// <summary>Maps ŝ to the log-scale s. Default <see cref="ScaleActivation.RealNvpTanh"/>.</summary>
    public ScaleActivation Scale { get; init; } = ScaleActivation.RealNvpTanh;

    /// <summary>α of the logit preprocessing, in (0, 0.5). Default 0.05.</summary>
    public double LogitAlpha { get; init; } = 0.05;

    /// <summary>Whether uniform dequantization noise is drawn (true, default) or fixed at bin centres.</summary>
    public bool DequantizationNoise { get; init; } = true;

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteInt("layers", Layers);
        writer.WriteInt("window", Window);
        writer.WriteInt("width", Width);
        writer.WriteInt("contextLayers", ContextLayers);
        writer.WriteInt("blocks", Blocks);
        writer.WriteComponent("scale", Scale);
        writer.WriteDouble("logitAlpha", LogitAlpha);
        writer.WriteBool("dequantizationNoise", DequantizationNoise);
    }

    /// <summary>Reads stored options, bounding every size (window ≤ 31 and odd, widths ≤ 65536, depths ≤ 4096).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or out of range (an even window included).</exception>
    public static AutoregressiveFlowOptions Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int window = reader.ReadInt("window", 1, Conditioners.LocalConditionerFactory.MaxWindow);
        if (window % 2 == 0)
        {
            throw new ComponentFormatException($"The autoregressive flow's window {window} is even; it must be odd.");
        }

        return new()
        {
            Layers = reader.ReadInt("layers", 1, ComponentLimits.MaxDepth),
            Window = window,
            Width = reader.ReadInt("width", 1, ComponentLimits.MaxWidth),
            ContextLayers = reader.ReadInt("contextLayers", 0, ComponentLimits.MaxDepth),
            Blocks = reader.ReadInt("blocks", 0, ComponentLimits.MaxDepth),
            Scale = reader.ReadComponent<ScaleActivation>("scale"),
            LogitAlpha = reader.ReadDouble("logitAlpha", 1e-9, 0.5 - 1e-9),
            DequantizationNoise = reader.ReadBool("dequantizationNoise"),
        };
    }

    /// <inheritdoc/>
    public NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null) => AutoregressiveFlow.Create(eventShape, this, device);

    /// <summary>Throws when a value is missing or out of range.</summary>
    /// <exception cref="ArgumentNullException"><see cref="Scale"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Scale, nameof(Scale));
        ArgumentOutOfRangeException.ThrowIfLessThan(Layers, 1, nameof(Layers));
        if (!AutoregressiveAffine.IsWindow(Window))
        {
            throw new ArgumentOutOfRangeException(nameof(Window), Window, $"Window must be odd and between 1 and {Conditioners.LocalConditionerFactory.MaxWindow}.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Width, 1, nameof(Width));
        ArgumentOutOfRangeException.ThrowIfNegative(ContextLayers, nameof(ContextLayers));
        ArgumentOutOfRangeException.ThrowIfNegative(Blocks, nameof(Blocks));
        if (!(LogitAlpha > 0 && LogitAlpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(LogitAlpha), LogitAlpha, "LogitAlpha must lie in (0, 0.5).");
        }
    }
}
