using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>
/// Creates the st-network (conditioner) of a coupling layer: the network that maps the conditioning part of the input
/// to the raw scale and shift of the transformed part.
/// </summary>
/// <remarks>
/// The created module maps <c>[N, inputShape...]</c> to <c>[N, outputChannels, spatial...]</c>, keeping the spatial
/// dimensions of the input shape (for an image input <c>[C, H, W]</c> the output is
/// <c>[N, outputChannels, H, W]</c>; for a vector input <c>[D]</c> it is <c>[N, outputChannels]</c>). The coupling
/// layer splits the output channels into raw scale and shift halves. Its last layer should start at zero so that a
/// fresh coupling layer is the identity.
/// </remarks>
[ComponentKind("st-network")]
public interface IConditionerFactory
{
    /// <summary>Creates a conditioner for inputs of event shape <paramref name="inputShape"/>.</summary>
    /// <param name="inputShape">The conditioner's input event shape, e.g. <c>[C, H, W]</c>.</param>
    /// <param name="outputChannels">Channels (or features) of the output: twice the transformed channels for an affine
    /// coupling (ŝ and t), the transformed channels for an additive one (t).</param>
    /// <param name="device">The device to create every parameter and buffer on (null: the CPU). Pass it to every
    /// TorchSharp module and tensor the network creates (<c>nn.Conv2d(..., device: device)</c>,
    /// <c>zeros(..., device: device)</c>): FlowOod builds on the <c>meta</c> device to check a model file's shapes
    /// without allocating memory, and on the user's GPU without a detour through the CPU. Never rely on torch's default
    /// device. Initialisation on <c>meta</c> only needs to produce the right shapes and dtypes.</param>
    /// <returns>A new module whose parameters and buffers are on <paramref name="device"/>.</returns>
    torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null);
}
