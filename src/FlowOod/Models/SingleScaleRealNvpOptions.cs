using System;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;

namespace FlowOod.Models;

/// <summary>
/// Hyper-parameters of <see cref="SingleScaleRealNvp"/>: the mask strategy, the number of couplings and the
/// st-network. Presets: the four single-scale models of Kirichenko et al. (2020).
/// </summary>
/// <remarks>
/// <para>The presets are plain data; change any part with a <c>with</c> expression, e.g.
/// <c>SingleScaleRealNvpOptions.RealNvpCycleMask with { Conditioner = new ResNetConditionerFactory(16, 2) }</c>, or plug
/// in another <see cref="IConditionerFactory"/> (a bottleneck st-network) or <see cref="IMaskStrategy"/>.</para>
/// <para>All four presets use the paper's ResNet st-network of width 64 with 8 residual blocks
/// (<see cref="PaperConditioner"/>, the script defaults) and α = 0.05. FlowOod's st-network uses plain convolutions
/// where the reference code uses weight-normalised ones, and a plain learnable per-channel scale where the reference
/// code weight-normalises it too; each weight norm adds one gain per output channel (1,667 per coupling on 1-channel
/// input). On <c>[1, 28, 28]</c> the 8-coupling presets therefore have 5,050,408 parameters here against 5,063,744 in
/// the reference code, and the 3-coupling preset 1,893,903 against 1,898,904. The function classes are the same.</para>
/// </remarks>
[ComponentName("SingleScaleRealNvp")]
public sealed record SingleScaleRealNvpOptions : IFlowBuilderOptions, IComponent<SingleScaleRealNvpOptions>
{
    /// <summary>The paper's st-network: ResNet of width 64 with 8 residual blocks.</summary>
    public static ResNetConditionerFactory PaperConditioner { get; } = new(width: 64, blocks: 8);

    /// <summary>
    /// 8 alternating checkerboard couplings (the paper's <c>RealNVP8Layers</c>), the same-depth baseline for the
    /// cycle-mask.
    /// </summary>
    public static SingleScaleRealNvpOptions RealNvp8Layers { get; } = new() { Mask = CheckerboardMask.Instance, Couplings = 8 };

    /// <summary>8 alternating horizontal-half couplings (the paper's <c>RealNVPMaskHorizontal</c>).</summary>
    public static SingleScaleRealNvpOptions RealNvpMaskHorizontal { get; } = new() { Mask = HalfMask.Horizontal, Couplings = 8 };

    /// <summary>
    /// 8 cycle-mask couplings, two full cycles (0→1), (1→2), (2→3), (3→0) (the paper's <c>RealNVPCycleMask</c>). Needs
    /// even H and W.
    /// </summary>
    public static SingleScaleRealNvpOptions RealNvpCycleMask { get; } = new() { Mask = CycleMask.Instance, Couplings = 2 * CycleMask.CycleLength };

    /// <summary>
    /// 3 alternating horizontal-half couplings (the paper's <c>RealNVPMaskHorizontal3Layers</c>): top → bottom → top, the
    /// coupling-layer co-adaptation demonstration of Sec. 6.
    /// </summary>
    public static SingleScaleRealNvpOptions RealNvpMaskHorizontal3Layers { get; } = new() { Mask = HalfMask.Horizontal, Couplings = 3 };

    /// <summary>
    /// A deliberately <i>local</i> flow: 4 alternating checkerboard couplings whose st-networks see a 3×3 window
    /// (<see cref="LocalConditionerFactory"/>, width 16, one residual 1×1 block), no squeeze, so every latent is a
    /// function of a 9×9 window of the image. Its likelihood can only learn local pixel statistics; it is the reference
    /// model of <c>Scoring.LocalLikelihoodRatioScorer</c>.
    /// </summary>
    public static SingleScaleRealNvpOptions Local { get; } = new()
    {
        Mask = CheckerboardMask.Instance,
        Couplings = 4,
        Conditioner = new LocalConditionerFactory(window: 3, width: 16, blocks: 1),
    };

    /// <summary>Chooses each coupling's mask from its index 0 … <see cref="Couplings"/> − 1. Default: checkerboard.</summary>
    public IMaskStrategy Mask { get; init; } = CheckerboardMask.Instance;

    /// <summary>Number of affine couplings, ≥ 1. Default 8.</summary>
    public int Couplings { get; init; } = 8;

    /// <summary>Creates every coupling's st-network. Default <see cref="PaperConditioner"/> (ResNet, width 64, 8 blocks).</summary>
    public IConditionerFactory Conditioner { get; init; } = PaperConditioner;

    /// <summary>α of the logit preprocessing, in (0, 0.5). Default 0.05.</summary>
    public double LogitAlpha { get; init; } = 0.05;

    /// <summary>Whether uniform dequantization noise is drawn (true, default) or fixed at bin centres.</summary>
    public bool DequantizationNoise { get; init; } = true;

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteComponent("mask", Mask);
        writer.WriteInt("couplings", Couplings);
        writer.WriteComponent("conditioner", Conditioner);
        writer.WriteDouble("logitAlpha", LogitAlpha);
        writer.WriteBool("dequantizationNoise", DequantizationNoise);
    }

    /// <summary>Reads stored options, bounding every size (widths ≤ 65536, depths ≤ 4096).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The options.</returns>
    public static SingleScaleRealNvpOptions Read(ComponentReader reader) => new()
    {
        Mask = reader.ReadComponent<IMaskStrategy>("mask"),
        Couplings = reader.ReadInt("couplings", 1, ComponentLimits.MaxDepth),
        Conditioner = reader.ReadComponent<IConditionerFactory>("conditioner"),
        LogitAlpha = reader.ReadDouble("logitAlpha", 1e-9, 0.5 - 1e-9),
        DequantizationNoise = reader.ReadBool("dequantizationNoise"),
    };

    /// <inheritdoc/>
    public NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null) => SingleScaleRealNvp.Create(eventShape, this, device);

    /// <summary>Throws when a value is missing or out of range.</summary>
    /// <exception cref="ArgumentNullException"><see cref="Mask"/> or <see cref="Conditioner"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Mask, nameof(Mask));
        ArgumentNullException.ThrowIfNull(Conditioner, nameof(Conditioner));
        ArgumentOutOfRangeException.ThrowIfLessThan(Couplings, 1, nameof(Couplings));
        if (!(LogitAlpha > 0 && LogitAlpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(LogitAlpha), LogitAlpha, "LogitAlpha must lie in (0, 0.5).");
        }
    }
}
