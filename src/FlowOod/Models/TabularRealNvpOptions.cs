using System;

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
public sealed record TabularRealNvpOptions
{
    /// <summary>Affine coupling layers, ≥ 1. Default 8.</summary>
    public int Couplings { get; init; } = 8;

    /// <summary>Units of every hidden layer of the MLP st-networks, ≥ 1. Default 256.</summary>
    public int HiddenWidth { get; init; } = 256;

    /// <summary>Hidden layers (Linear → ReLU) of the MLP st-networks, ≥ 0. Default 1.</summary>
    public int HiddenLayers { get; init; } = 1;

    /// <summary>Dropout probability after every hidden ReLU (training mode only), in [0, 1). Default 0 (reference option: 0.5).</summary>
    public double Dropout { get; init; }

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
