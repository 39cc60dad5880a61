using System;
using FlowOod.Components;

namespace FlowOod.Models;

/// <summary>
/// Hyper-parameters of <see cref="TabularRealNvp"/>. The defaults follow Kirichenko et al. (2020)'s tabular script
/// (App. K): 8 couplings, MLP st-networks of width 256 with one hidden layer, no dropout.
/// </summary>
/// <remarks>
/// The reference script's <c>num_blocks</c> = 1 appears, from its parameter counts (about 0.84M on MiniBooNE), to build
/// two hidden layers of 256 units; set <see cref="HiddenLayers"/> = 2 for a network of that depth (see
/// <see cref="Conditioners.MlpConditionerFactory"/>).
/// </remarks>
[ComponentName("TabularRealNvp")]
public sealed record TabularRealNvpOptions : IFlowBuilderOptions, IComponent<TabularRealNvpOptions>
{
    /// <summary>Affine coupling layers, ≥ 1. Default 8.</summary>
    public int Couplings { get; init; } = 8;

    /// <summary>Units of every hidden layer of the MLP st-networks, ≥ 1. Default 256.</summary>
    public int HiddenWidth { get; init; } = 256;

    /// <summary>Hidden layers (Linear → ReLU) of the MLP st-networks, ≥ 0. Default 1.</summary>
    public int HiddenLayers { get; init; } = 1;

    /// <summary>Dropout probability after every hidden ReLU (training mode only), in [0, 1). Default 0 (reference option: 0.5).</summary>
    public double Dropout { get; init; }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("couplings", Couplings);
        writer.WriteInt("hiddenWidth", HiddenWidth);
        writer.WriteInt("hiddenLayers", HiddenLayers);
        writer.WriteDouble("dropout", Dropout);
    }

    /// <summary>Reads stored options, bounding every size (widths ≤ 65536, depths ≤ 4096).</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The options.</returns>
    public static TabularRealNvpOptions Read(ComponentReader reader) => new()
    {
        Couplings = reader.ReadInt("couplings", 1, ComponentLimits.MaxDepth),
        HiddenWidth = reader.ReadInt("hiddenWidth", 1, ComponentLimits.MaxWidth),
        HiddenLayers = reader.ReadInt("hiddenLayers", 0, ComponentLimits.MaxDepth),
        Dropout = reader.ReadDouble("dropout", 0, 1),
    };

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="eventShape"/> is not 1-D.</exception>
    public NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(eventShape);
        return eventShape.Length == 1
            ? TabularRealNvp.Create(eventShape[0], this, device)
            : throw new ArgumentException($"A TabularRealNvp has a 1-D event shape, got {Shapes.Format(eventShape)}.", nameof(eventShape));
    }

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Couplings, 1, nameof(Couplings));
        ArgumentOutOfRangeException.ThrowIfLessThan(HiddenWidth, 1, nameof(HiddenWidth));
        ArgumentOutOfRangeException.ThrowIfNegative(HiddenLayers, nameof(HiddenLayers));
        if (!(Dropout >= 0 && Dropout < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, $"Dropout must lie in [0, 1), got {Dropout}.");
        }
    }
}
