using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Bottlenecks;

/// <summary>
/// Creates the bottleneck inside an st-network: a module that squeezes an intermediate feature map through a narrow
/// code and expands it back to the same shape (Kirichenko et al. 2020, Sec. 7, the "l-bottleneck").
/// </summary>
/// <remarks>
/// <para>The created module maps <c>[N, featureShape...]</c> to <c>[N, featureShape...]</c>. Conditioner factories
/// that accept a bottleneck call <see cref="Create"/> once per st-network with the shape of the features at the point
/// where the bottleneck sits:</para>
/// <list type="bullet">
/// <item><description><c>Conditioners.ResNetConditionerFactory</c> (the reference code's <c>resnet_ae</c>): after
/// ⌊blocks/2⌋ residual blocks, featureShape = <c>[width, H, W]</c>;</description></item>
/// <item><description><c>Conditioners.AutoencoderConditionerFactory</c> (<c>autoencoder</c>): between encoder and
/// decoder, featureShape = <c>[128, h, w]</c> (table below).</description></item>
/// </list>
/// <para>Why it matters: a coupling layer can write the pixels it conditions on into the pixels it changes, and the next
/// layer can read them back ("co-adaptation"), which lets a flow model any image well, in- or out-of-distribution. A
/// narrow code in every st-network limits how much of its input it can pass on, which is the paper's remedy.</para>
/// <para>Shapes of the autoencoder st-network's code, as in Kirichenko et al. (2020)'s code (s = ⌊input width/14⌋ is
/// the stride of the last two encoder convolutions):</para>
/// <list type="table">
/// <listheader><term>Input to the st-network</term><description>s; encoder spatial sizes; features squeezed into l</description></listheader>
/// <item><term>28×28</term><description>2; 28 → 25 → 22 → 10 → 4; 128·4·4 = 2048</description></item>
/// <item><term>14×14 (after a squeeze)</term><description>1; 14 → 11 → 8 → 5 → 2; 128·2·2 = 512</description></item>
/// <item><term>32×32</term><description>2; 32 → 29 → 26 → 12 → 5; 128·5·5 = 3200</description></item>
/// <item><term>16×16</term><description>1; 16 → 13 → 10 → 7 → 4; 128·4·4 = 2048</description></item>
/// <item><term>≤ 13 wide</term><description>0; unusable (e.g. the third scale of 32×32 images)</description></item>
/// </list>
/// <para>For the ResNet variant the bottleneck sees <c>width·H·W</c> features (64·28·28 = 50,176 for RealNVP's first
/// scale on 28×28 images). The paper's values of l are not known; the reference code's default is 100.</para>
/// <para>Implementations: <see cref="NoBottleneck"/> (identity, the default) and <see cref="LinearBottleneck"/> (the
/// paper's flatten → Linear to l → Linear back). A user-defined bottleneck only needs to keep the shape; it should keep
/// its code narrow, or it does not limit anything.</para>
/// </remarks>
[ComponentKind("bottleneck")]
public interface IBottleneck
{
    /// <summary>Creates a bottleneck module for features of shape <paramref name="featureShape"/>.</summary>
    /// <param name="featureShape">The per-example feature shape at the bottleneck, e.g. <c>[128, 4, 4]</c>.</param>
    /// <param name="device">The device to create every parameter and buffer on (null: the CPU); see
    /// <c>Conditioners.IConditionerFactory.Create</c>. Never rely on torch's default device.</param>
    /// <returns>A module mapping <c>[N, featureShape...]</c> to <c>[N, featureShape...]</c>, its parameters on <paramref name="device"/>.</returns>
    torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] featureShape, torch.Device? device = null);
}
