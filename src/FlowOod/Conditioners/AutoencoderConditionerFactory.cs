using System;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>
/// Creates the auto-encoder st-networks of Kirichenko et al. (2020), Sec. 7
/// (reference <c>--st_type=autoencoder --latent_dim=l</c>).
/// </summary>
/// <remarks>
/// Image inputs of at least 14×14 only: <c>[C, H, W]</c> → <c>[N, outputChannels, H, W]</c>. The code squeezed by the
/// bottleneck is <c>[128, 4, 4]</c> (2048 features) for 28×28 inputs and <c>[128, 2, 2]</c> (512) for 14×14 inputs; see
/// <see cref="IBottleneck"/> for the full table. In a multi-scale RealNVP on 28×28 images both scales qualify (28×28
/// and 14×14 after the squeeze); a third scale of 32×32 images (4×4) does not.
/// <para>The network's layout (4×4 kernels, no padding, LeakyReLU with slope <c>LeakySlope</c>):</para>
/// <list type="number">
/// <item><description><c>encoder</c>: four convolutions Cin → 32 → 64 → 64 → 128 with strides 1, 1, s, s, each followed
/// by LeakyReLU; s = ⌊size/14⌋ per spatial axis (the reference uses the width of square inputs);</description></item>
/// <item><description><c>bottleneck</c>: the module of an <see cref="IBottleneck"/> on the code <c>[128, h, w]</c>
/// (<c>FeatureShape</c>) — <see cref="LinearBottleneck"/> gives the paper's flatten → Linear to l → Linear back,
/// without nonlinearity;</description></item>
/// <item><description><c>decoder</c>: the mirrored transposed convolutions 128 → 64 → 64 → 32 with strides s, s, 1, each
/// followed by LeakyReLU, then <c>out_conv</c> 32 → Cout with stride 1 and no activation. Each transposed convolution
/// gets the output padding (&lt; its stride) that restores the size of the matching encoder input exactly, so the output
/// is at the input resolution for any H, W ≥ 14.</description></item>
/// </list>
/// <para>Encoder sizes: 28×28 (s = 2): 28 → 25 → 22 → 10 → 4, code 128·4·4 = 2048; 14×14 (s = 1): 14 → 11 → 8 → 5 → 2,
/// code 512; 32×32: code 3200; 16×16: code 2048. Inputs narrower than 14 give s = 0 and are rejected. No BatchNorm
/// and no [x, −x] doubling (unlike the ResNet st-network); the network has no width parameter.</para>
/// <para><c>out_conv</c> starts at zero, so a fresh coupling layer is the identity; the other layers use PyTorch's
/// default initialisation.</para>
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
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null) =>
        new AutoencoderConditioner(inputShape, outputChannels, Bottleneck, device);

    /// <inheritdoc/>
    public void Write(ComponentWriter writer) => writer.WriteComponent("bottleneck", Bottleneck);

    /// <summary>Reads the stored factory: its bottleneck.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static AutoencoderConditionerFactory Read(ComponentReader reader) => new(reader.ReadComponent<IBottleneck>("bottleneck"));

    /// <inheritdoc/>
    public override string ToString() => $"Autoencoder({Bottleneck})";
}
