using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Bottlenecks;

/// <summary>
/// The paper's l-bottleneck: flatten the features, a linear layer down to <see cref="LatentSize"/> numbers, a linear
/// layer back, reshape (Kirichenko et al. 2020, Sec. 7; reference flag <c>--latent_dim</c>, default 100).
/// </summary>
/// <remarks>
/// Creates a linear bottleneck module: <c>[N, featureShape...]</c> → flatten <c>[N, F]</c> → Linear(F, l)
/// <c>[N, l]</c> → Linear(l, F) <c>[N, F]</c> → <c>[N, featureShape...]</c>, with F = ∏ featureShape and no
/// nonlinearity, so it has (F + 1)·l + (l + 1)·F parameters. It limits information only when l &lt; F. See
/// <see cref="IBottleneck"/> for the feature shapes of the st-networks that use it.
/// <para>The network's layout: flatten to <c>[N, F]</c> (F = ∏ featureShape) → <c>encode</c> = Linear(F, l) → <c>[N, l]</c> →
/// <c>decode</c> = Linear(l, F) → reshape to <c>[N, featureShape...]</c>. No nonlinearity (as the reference code's
/// <c>resnet_ae</c> and <c>autoencoder</c> st-networks). Both layers use PyTorch's default initialisation. Whatever
/// follows can only depend on the input through the l numbers of the code, so the Jacobian of the output with respect
/// to the input has rank at most l.</para>
/// </remarks>
[ComponentName("linear")]
public sealed class LinearBottleneck : IBottleneck, IComponent<LinearBottleneck>
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="latentSize">l, the width of the code (reference default 100).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="latentSize"/> is not positive.</exception>
    public LinearBottleneck(int latentSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentSize);
        LatentSize = latentSize;
    }

    /// <summary>l, the width of the code.</summary>
    public int LatentSize { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shape is empty or has a non-positive dimension.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] featureShape, torch.Device? device = null) => new LinearBottleneckLayer(featureShape, LatentSize, device);

    /// <inheritdoc/>
    public void Write(ComponentWriter writer) => writer.WriteInt("latentSize", LatentSize);

    /// <summary>Reads the stored bottleneck: its latent size, at most 65536.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The bottleneck.</returns>
    public static LinearBottleneck Read(ComponentReader reader) => new(reader.ReadInt("latentSize", 1, ComponentLimits.MaxWidth));

    /// <inheritdoc/>
    public override string ToString() => $"LinearBottleneck(l={LatentSize})";
}
