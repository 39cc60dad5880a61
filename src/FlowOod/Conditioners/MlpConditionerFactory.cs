using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>Creates fully connected st-networks for vector events <c>[D]</c>.</summary>
/// <remarks>
/// <para>For tabular data and embeddings (Kirichenko et al. 2020, App. K and Sec. 8). <see cref="Create"/> maps
/// <c>[N, D]</c> to <c>[N, outputChannels]</c>; with <see cref="Masks.ChannelMask"/> on an event <c>[D]</c> the coupling
/// layer passes the ⌈D/2⌉ or ⌊D/2⌋ conditioning features and asks for twice the transformed ones.</para>
/// <para>The reference code's tabular defaults are a width of 256 and <c>num_blocks</c> = 1; judging by its parameter
/// counts (about 0.84M for 8 couplings on 50 MiniBooNE features) that network is Linear(D, 256) → ReLU →
/// Linear(256, 256) → ReLU → Linear(256, 2D), i.e. two hidden layers in this class's terms, fed the whole masked vector
/// rather than only the conditioning half.</para>
/// <para>The network's layout: <c>hidden</c> = <c>hiddenLayers</c> × (Linear → ReLU → dropout), the first Din → hiddenWidth and the
/// rest hiddenWidth → hiddenWidth; then <c>out_linear</c> = Linear to Dout (from Din when there is no hidden layer).
/// <c>out_linear</c> starts at zero, so a fresh coupling layer is the identity; the hidden layers use PyTorch's default
/// initialisation. Dropout (probability <c>dropout</c>, reference option 0.5) is active only in training mode.</para>
/// <para>Parameters: with hiddenLayers = k ≥ 1 and width w, (Din + 1)·w + (k − 1)·(w + 1)·w + (w + 1)·Dout.</para>
/// </remarks>
[ComponentName("mlp")]
public sealed class MlpConditionerFactory : IConditionerFactory, IComponent<MlpConditionerFactory>
{
    /// <summary>Creates the factory.</summary>
    /// <param name="hiddenWidth">Units of every hidden layer (reference tabular default: 256).</param>
    /// <param name="hiddenLayers">Hidden layers (Linear → ReLU), ≥ 0.</param>
    /// <param name="dropout">Dropout probability after every hidden ReLU in training mode, in [0, 1). Default 0
    /// (reference option <c>--dropout</c>: 0.5).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="hiddenWidth"/> is not positive,
    /// <paramref name="hiddenLayers"/> is negative or <paramref name="dropout"/> is outside [0, 1).</exception>
    public MlpConditionerFactory(int hiddenWidth, int hiddenLayers, double dropout = 0.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenWidth);
        ArgumentOutOfRangeException.ThrowIfNegative(hiddenLayers);
        CheckDropout(dropout, nameof(dropout));
        HiddenWidth = hiddenWidth;
        HiddenLayers = hiddenLayers;
        Dropout = dropout;
    }

    /// <summary>Units of every hidden layer.</summary>
    public int HiddenWidth { get; }

    /// <summary>Hidden layers.</summary>
    public int HiddenLayers { get; }

    /// <summary>Dropout probability after every hidden ReLU (training mode only).</summary>
    public double Dropout { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not a vector shape <c>[D]</c>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null)
    {
        var shape = ConditionerShapes.RequireVector(inputShape, outputChannels, "MLP");
        return new MlpConditioner(shape[0], outputChannels, HiddenWidth, HiddenLayers, Dropout, device);
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        writer.WriteInt("hiddenWidth", HiddenWidth);
        writer.WriteInt("hiddenLayers", HiddenLayers);
        writer.WriteDouble("dropout", Dropout);
    }

    /// <summary>Reads the stored factory: hidden width ≤ 65536, hidden layers ≤ 4096, dropout in [0, 1].</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static MlpConditionerFactory Read(ComponentReader reader) => new(
        reader.ReadInt("hiddenWidth", 1, ComponentLimits.MaxWidth), reader.ReadInt("hiddenLayers", 0, ComponentLimits.MaxDepth), reader.ReadDouble("dropout", 0, 1));

    /// <inheritdoc/>
    public override string ToString() => $"Mlp(hiddenWidth={HiddenWidth}, hiddenLayers={HiddenLayers}, dropout={Dropout})";

    internal static void CheckDropout(double dropout, string parameterName)
    {
        if (!(dropout >= 0 && dropout < 1))
        {
            throw new ArgumentOutOfRangeException(parameterName, dropout, $"Dropout must lie in [0, 1), got {dropout}.");
        }
    }
}
