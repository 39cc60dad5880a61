namespace FlowOod.Testing;

/// <summary>Where the latent points y of the Forward(Inverse(y)) ≈ y check come from.</summary>
public enum LatentKind
{
    /// <summary>Standard normal entries of the output shape: every latent is in the bijector's range.</summary>
    Gaussian,

    /// <summary>y = Forward(x) for sampled inputs x: the inverse quantizes, so only images of grid points round-trip.</summary>
    ForwardImageOfInputs,

    /// <summary>Forward(Inverse(y)) ≈ y does not hold for any useful y (say why in <see cref="BijectorCase.Note"/>).</summary>
    NotApplicable,
}
