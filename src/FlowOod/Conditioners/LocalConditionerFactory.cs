using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>
/// Creates st-networks that see only a k×k window (one k×k convolution, then 1×1 residual blocks): the building block
/// of <i>local</i> flows, whose likelihood can only learn local pixel statistics.
/// </summary>
/// <remarks>
/// <para>Image inputs only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>; any H and W. Layout: [x, −x] →
/// k×k "same" conv 2·Cin → width → ReLU → <see cref="Blocks"/> × (1×1 conv → ReLU → 1×1 conv, + identity, ReLU) →
/// 1×1 conv width → Cout, zero-initialised (a fresh coupling is the identity). No normalisation layers.</para>
/// <para>Receptive field: a coupling whose st-network sees a k×k window moves information by at most r = (k − 1)/2
/// pixels, so a stack of n such couplings without squeezes computes each latent from an (n(k − 1) + 1)² window of
/// the input (<c>Models.SingleScaleRealNvpOptions.Local</c>: n = 4, k = 3, a 9×9 window).</para>
/// <para>Parameters: 2k²·Cin·width + width + blocks·2·(width² + width) + width·Cout + Cout.</para>
/// </remarks>
[ComponentName("local")]
public sealed class LocalConditionerFactory : IConditionerFactory, IComponent<LocalConditionerFactory>
{
    /// <summary>Creates the factory.</summary>
    /// <param name="window">k, the window's side: odd, 1 ≤ k ≤ 31.</param>
    /// <param name="width">Feature maps inside the network, ≥ 1.</param>
    /// <param name="blocks">1×1 residual blocks after the window convolution, ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range, or <paramref name="window"/> is even.</exception>
    public LocalConditionerFactory(int window, int width, int blocks)
    {
        if (window < 1 || window > MaxWindow || window % 2 == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, $"The window must be odd and between 1 and {MaxWindow}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        Window = window;
        Width = width;
        Blocks = blocks;
    }

    /// <summary>The largest window side accepted (31).</summary>
    public const int MaxWindow = 31;

    /// <summary>k, the side of the window each output position sees.</summary>
    public int Window { get; }

    /// <summary>Feature maps inside the network.</summary>
    public int Width { get; }

    /// <summary>1×1 residual blocks after the window convolution.</summary>
    public int Blocks { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null)
    {
        var shape = ConditionerShapes.RequireImage(inputShape, outputChannels, "local st-network");
        return new LocalConditioner(shape[0], outputChannels, Window, Width, Blocks, device);
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteInt("window", Window);
        writer.WriteInt("width", Width);
        writer.WriteInt("blocks", Blocks);
    }

    /// <summary>Reads the stored factory: an odd window ≤ 31, width ≤ 65536, blocks ≤ 4096.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or out of range (an even window included).</exception>
    public static LocalConditionerFactory Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int window = reader.ReadInt("window", 1, MaxWindow);
        if (window % 2 == 0)
        {
            throw new ComponentFormatException($"The local st-network's window {window} is even; it must be odd.");
        }

        return new LocalConditionerFactory(window, reader.ReadInt("width", 1, ComponentLimits.MaxWidth), reader.ReadInt("blocks", 0, ComponentLimits.MaxDepth));
    }

    /// <inheritdoc/>
    public override string ToString() => $"Local(window={Window}, width={Width}, blocks={Blocks})";
}
