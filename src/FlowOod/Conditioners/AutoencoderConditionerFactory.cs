using System;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>
/// Creates the auto-encoder st-networks of Kirichenko et al. (2020), Sec. 7 (<see cref="AutoencoderConditioner"/>,
/// reference <c>--st_type=autoencoder --latent_dim=l</c>).
/// </summary>
/// <remarks>
/// Image inputs of at least 14×14 only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>. The code squeezed by the
/// bottleneck is <c>[128, 4, 4]</c> (2048 features) for 28×28 inputs and <c>[128, 2, 2]</c> (512) for 14×14 inputs; see
/// <see cref="IBottleneck"/> for the full table. In a multi-scale RealNVP on 28×28 images both scales qualify (28×28
/// and 14×14 after the squeeze); a third scale of 32×32 images (4×4) does not.
/// </remarks>
[ComponentName("autoencoder")]
public sealed class AutoencoderConditionerFactory : IConditionerFactory, IComponent<AutoencoderConditionerFactory>
{
    /// <summary>Creates the factory with the paper's l-bottleneck, <see cref="LinearBottleneck"/>(<paramref name="latentSize"/>).</summary>
    /// <param name="latentSize">l, the width of the code (reference default 100).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="latentSize"/> is not positive.</exception>
    public AutoencoderConditionerFactory(int latentSize)
        : this(new LinearBottleneck(latentSize))
    {
    }

    /// <summary>Creates the factory with any bottleneck between encoder and decoder.</summary>
    /// <param name="bottleneck">Creates the module on the encoder's <c>[128, h, w]</c> output.</param>
    public AutoencoderConditionerFactory(IBottleneck bottleneck)
    {
        ArgumentNullException.ThrowIfNull(bottleneck);
        Bottleneck = bottleneck;
    }

    /// <summary>The bottleneck between encoder and decoder.</summary>
    public IBottleneck Bottleneck { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="inputShape"/> is not an image shape <c>[C, H, W]</c> of at
    /// least 14×14.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels) =>
        new AutoencoderConditioner(inputShape, outputChannels, Bottleneck);

    /// <inheritdoc/>
    public void Write(ComponentWriter writer) => writer.WriteComponent("bottleneck", Bottleneck);

    /// <summary>Reads the stored factory: its bottleneck.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static AutoencoderConditionerFactory Read(ComponentReader reader) => new(reader.ReadComponent<IBottleneck>("bottleneck"));

    /// <inheritdoc/>
    public override string ToString() => $"Autoencoder({Bottleneck})";
}
