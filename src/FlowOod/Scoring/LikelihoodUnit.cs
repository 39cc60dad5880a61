namespace FlowOod.Scoring;

/// <summary>The unit of a likelihood-based score.</summary>
public enum LikelihoodUnit
{
    /// <summary>Negative log-likelihood −log p(x) in nats per example.</summary>
    Nats,

    /// <summary>Bits per dimension (see <see cref="FlowOod.Bijectors.Discretization"/>); a monotone transform of nats.</summary>
    BitsPerDim,
}
