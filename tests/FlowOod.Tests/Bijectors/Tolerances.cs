namespace FlowOod.Tests.Bijectors;

// Every numeric tolerance of the bijector and scoring suites, in one place. All checks run in float64 (unit roundoff
// 1.1e-16); a comparison passes when |actual - expected| <= Absolute + Relative * |expected| (torch.allclose).
// On the current implementation every check also passes with all entries tightened to 1e-13 (batch invariance 1e-14);
// the margins below absorb BLAS/OpenMP changes between libtorch builds, while real errors (a wrong LogDet term, an
// inverse that is off) show up at 1e-3 or worse.
internal static class Tolerances
{
    // Inverse(Forward(x)) vs x and Forward(Inverse(y)) vs y. Loosened from roundoff because the deepest case (RealNVP)
    // stacks ~10 couplings whose exp(±s) factors reach e^1.3, plus logit/sigmoid, which amplify roundoff.
    public const double RoundTripRelative = 1e-10;
    public const double RoundTripAbsolute = 1e-10;

    // Forward LogDet + Inverse LogDet at the forward output: sums of up to 64 terms of magnitude ~1 that must cancel.
    public const double LogDetSumAbsolute = 1e-9;

    // LogDet vs slogdet of the autograd Jacobian (the brief's ~1e-8 relative; LU of a 64x64 Jacobian loses a few
    // digits). The absolute floor covers volume-preserving cases (Squeeze), whose expected value is exactly 0.
    public const double JacobianRelative = 1e-8;
    public const double JacobianAbsolute = 1e-10;

    // Scoring a batch of 10 vs scoring each item alone. Loosened from exact equality: convolutions and reductions over a
    // batch of 10 may be blocked differently from a batch of 1, reassociating float64 sums; eval-mode BatchNorm uses
    // running statistics, so there is no genuine coupling between the items.
    public const double BatchInvarianceRelative = 1e-10;

    // Analytic densities (NormalizingFlow.LogProb and BitsPerDim vs closed forms evaluated in C# doubles).
    public const double AnalyticRelative = 1e-12;
}
