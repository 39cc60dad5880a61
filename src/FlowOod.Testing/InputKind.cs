namespace FlowOod.Testing;

/// <summary>What the inputs x of a conformance case look like.</summary>
public enum InputKind
{
    /// <summary>Standard normal entries: any real value is valid (couplings, squeeze, permutations).</summary>
    Gaussian,

    /// <summary>Uniform in [0.01, 0.99]: the open unit interval, away from the logit's singularities.</summary>
    UnitInterval,

    /// <summary>8-bit data k/255 with k uniform in 0..255, as image loaders produce (dequantization, whole flows).</summary>
    EightBit,
}
