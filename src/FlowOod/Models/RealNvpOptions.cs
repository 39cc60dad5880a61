using System;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using FlowOod.Masks;

namespace FlowOod.Models;

/// <summary>Hyper-parameters of <see cref="RealNvp"/>. Presets: <see cref="Compact"/> and <see cref="FashionMnistPaper"/>.</summary>
[ComponentName("RealNvp")]
public sealed record RealNvpOptions : IFlowBuilderOptions, IComponent<RealNvpOptions>
{
    /// <summary>Scales (multi-scale levels), ≥ 1. Default 2 (RealNVP on 28×28 images).</summary>
    public int Scales { get; init; } = 2;

    /// <summary>st-network width at the first scale, doubled after every squeeze. Default 64.</summary>
    public int Width { get; init; } = 64;

    /// <summary>Residual blocks per st-network. Default 6 (Kirichenko et al.'s Fashion-MNIST runs).</summary>
    public int Blocks { get; init; } = 6;

    /// <summary>α of the logit preprocessing. Default 0.05.</summary>
    public double LogitAlpha { get; init; } = 0.05;

    /// <summary>Whether uniform dequantization noise is drawn (true, default) or fixed at bin centres.</summary>
    public bool DequantizationNoise { get; init; } = true;

    /// <summary>
    /// The mask strategy of the spatial couplings (3 per scale, 4 at the last). Default <see cref="CheckerboardMask"/>;
    /// e.g. <see cref="CycleMask"/> or <see cref="HalfMask"/> to change the flow's inductive bias (Kirichenko et al. 2020,
    /// Sec. 7). The channel-wise couplings after each squeeze always use <see cref="ChannelMask"/>.
    /// </summary>
    public IMaskStrategy SpatialMask { get; init; } = CheckerboardMask.Instance;

    /// <summary>
    /// The bottleneck inside every ResNet st-network (after half its residual blocks). Default
    /// <see cref="NoBottleneck"/>; <see cref="LinearBottleneck"/> is the paper's l-bottleneck.
    /// </summary>
    public IBottleneck Bottleneck { get; init; } = NoBottleneck.Instance;

    /// <summary>
    /// Weight-normalised convolutions in the st-networks, as in the reference code. Default false (plain convolutions:
    /// the same function class, fewer operations per step); <see cref="FashionMnistPaper"/> sets it.
    /// </summary>
    public bool WeightNorm { get; init; }

    /// <summary>
    /// The compact CPU preset: 2 scales, width 32, 2 residual blocks — about 1.1M parameters on 28×28×1, trains at a
    /// few hundred images per second on two CPU cores.
    /// </summary>
    public static RealNvpOptions Compact { get; } = new() { Scales = 2, Width = 32, Blocks = 2 };

    /// <summary>
    /// Kirichenko et al. (2020)'s RealNVP for Fashion-MNIST/MNIST: 2 scales, width 64, 6 residual blocks
    /// (about 14.7M parameters with their weight-normalised convolutions). Paper training: Adam, lr 5e-5, batch 32.
    /// </summary>
    public static RealNvpOptions FashionMnistPaper { get; } = new() { Scales = 2, Width = 64, Blocks = 6, WeightNorm = true };

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("scales", Scales);
        writer.WriteInt("width", Width);
        writer.WriteInt("blocks", Blocks);
        writer.WriteDouble("logitAlpha", LogitAlpha);
        writer.WriteBool("dequantizationNoise", DequantizationNoise);
        writer.WriteComponent("spatialMask", SpatialMask);
        writer.WriteComponent("bottleneck", Bottleneck);
        writer.WriteBool("weightNorm", WeightNorm);
    }

    /// <summary>Reads stored options, bounding every size (widths ≤ 65536, depths ≤ 4096).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The options.</returns>
    public static RealNvpOptions Read(ComponentReader reader) => new()
    {
        Scales = reader.ReadInt("scales", 1, 16),
        Width = reader.ReadInt("width", 1, ComponentLimits.MaxWidth),
        Blocks = reader.ReadInt("blocks", 0, ComponentLimits.MaxDepth),
        LogitAlpha = reader.ReadDouble("logitAlpha", 1e-9, 0.5 - 1e-9),
        DequantizationNoise = reader.ReadBool("dequantizationNoise"),
        SpatialMask = reader.ReadComponent<IMaskStrategy>("spatialMask"),
        Bottleneck = reader.ReadComponent<IBottleneck>("bottleneck"),
        WeightNorm = reader.ReadBool("weightNorm"),
    };

    /// <inheritdoc/>
    public NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null) => RealNvp.Create(eventShape, this, device);

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(SpatialMask, nameof(SpatialMask));
        ArgumentNullException.ThrowIfNull(Bottleneck, nameof(Bottleneck));
        ArgumentOutOfRangeException.ThrowIfLessThan(Scales, 1, nameof(Scales));
        ArgumentOutOfRangeException.ThrowIfLessThan(Width, 1, nameof(Width));
        ArgumentOutOfRangeException.ThrowIfNegative(Blocks, nameof(Blocks));
        if (!(LogitAlpha > 0 && LogitAlpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(LogitAlpha), LogitAlpha, "LogitAlpha must lie in (0, 0.5).");
        }
    }
}
