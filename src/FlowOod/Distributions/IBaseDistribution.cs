using TorchSharp;

namespace FlowOod.Distributions;

/// <summary>The base (latent) distribution of a normalizing flow.</summary>
public interface IBaseDistribution
{
    /// <summary>log p(z) per example in nats, summed over the event: <c>[N, ...]</c> → <c>[N]</c>.</summary>
    torch.Tensor LogProb(torch.Tensor latent);

    /// <summary>Draws <paramref name="count"/> latents of shape <c>[count, eventShape...]</c>.</summary>
    torch.Tensor Sample(long count, long[] eventShape, torch.ScalarType dtype, torch.Device device, torch.Generator? generator = null);
}
