namespace FlowOod.Testing;

/// <summary>
/// Every numeric tolerance of the conformance checks, in one table. All checks run in float64 (unit roundoff 1.1e-16);
/// a comparison passes when |actual − expected| ≤ absolute + relative·|expected| (torch.allclose).
/// </summary>
/// <remarks>
/// On FlowOod's own bijectors every check also passes with all entries tightened to 1e-13 (batch invariance 1e-14);
/// the margins absorb BLAS/OpenMP differences between libtorch builds, while real errors (a wrong log-det term, an
/// inverse that is off) show up at 1e-3 or worse.
/// </remarks>
public sealed record ConformanceTolerances
{
    /// <summary>The defaults below.</summary>
    public static ConformanceTolerances Default { get; } = new();

    /// <summary>Inverse(Forward(x)) vs x and Forward(Inverse(y)) vs y, relative. 1e-10: deep stacks (RealNVP, ~10
    /// couplings with exp(±s) factors up to e^1.3, plus logit/sigmoid) amplify roundoff.</summary>
    public double RoundTripRelative { get; init; } = 1e-10;

    /// <summary>Round trips, absolute. 1e-10, for the same reason.</summary>
    public double RoundTripAbsolute { get; init; } = 1e-10;

    /// <summary>Forward LogDet + Inverse LogDet, absolute: sums of up to ~100 terms of magnitude ~1 that must cancel.</summary>
    public double LogDetSumAbsolute { get; init; } = 1e-9;

    /// <summary>LogDet vs slogdet of the autograd Jacobian, relative: an LU of a 64×64 Jacobian loses a few digits.</summary>
    public double JacobianRelative { get; init; } = 1e-8;

    /// <summary>LogDet vs the Jacobian, absolute floor for volume-preserving maps (squeeze), whose LogDet is exactly 0.</summary>
    public double JacobianAbsolute { get; init; } = 1e-10;

    /// <summary>A batch vs its examples one at a time, relative: convolutions and reductions may block a batch of 10
    /// differently from a batch of 1, reassociating float64 sums.</summary>
    public double BatchInvarianceRelative { get; init; } = 1e-10;
}
