namespace FlowOod.Scoring;

/// <summary>The outcome of <see cref="TypicalityTest.Test"/> on one batch of M inputs. All quantities are in nats per example.</summary>
/// <param name="MeanNegativeLogLikelihood">−(1/M) Σ_m log p(x_m), the batch's mean negative log-likelihood in nats.</param>
/// <param name="Statistic">ε̂ = |mean NLL − Ĥ| in nats, ≥ 0; higher = less typical = more OOD.</param>
/// <param name="Threshold">ε_α^M in nats, the bootstrapped (1 − α) quantile the statistic is compared with.</param>
/// <param name="PValue">
/// The bootstrap p-value (1 + #{k : ε*_k ≥ ε̂}) / (K + 1) over the K bootstrap statistics ε*_k, in (0, 1]; small = OOD.
/// </param>
/// <param name="IsOutOfDistribution">True when ε̂ &gt; ε_α^M: the batch is rejected as not from the in-distribution.</param>
public sealed record TypicalityTestResult(
    double MeanNegativeLogLikelihood, double Statistic, double Threshold, double PValue, bool IsOutOfDistribution);
