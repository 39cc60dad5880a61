using System;

namespace FlowOod.Metrics;

/// <summary>
/// Exact OOD-detection metrics on managed score arrays. Conventions: higher score = more out-of-distribution, and the
/// OOD examples are the positive class.
/// </summary>
public static class OodMetrics
{
    /// <summary>
    /// Area under the ROC curve with OOD as the positive class: the probability that a random OOD example scores higher
    /// than a random in-distribution one, ties counting ½ (Mann–Whitney U from average ranks).
    /// </summary>
    /// <remarks>
    /// AUROC = (R_ood − n_ood(n_ood + 1)/2) / (n_ood·n_in), with R_ood the sum of the OOD scores' average ranks in the
    /// pooled sample. 1 = perfect detection, ½ = chance, below ½ = the OOD set looks <i>more</i> in-distribution. With
    /// score = −log p(x) this equals Kirichenko et al.'s AUROC of log-likelihoods with in-distribution labelled 1.
    /// </remarks>
    /// <param name="inDistributionScores">Scores of in-distribution examples (negatives).</param>
    /// <param name="outOfDistributionScores">Scores of OOD examples (positives).</param>
    /// <exception cref="ArgumentException">A set is empty or a score is NaN.</exception>
    public static double Auroc(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores)
    {
        var negatives = inDistributionScores.Length;
        var positives = outOfDistributionScores.Length;
        if (negatives == 0 || positives == 0)
        {
            throw new ArgumentException($"AUROC needs both sets non-empty; got {negatives} in-distribution and {positives} OOD scores.");
        }

        // Sort the pooled scores, carrying a flag for OOD membership, then give every run of equal scores the average of
        // the ranks it spans. Equality is tested with ==, so equal infinities (score −log p = +∞ for p = 0) tie; MathNet's
        // Ranks(RankDefinition.Average) compares |a − b| <= 0, which is NaN for ∞ − ∞, and split such ties.
        var pooled = new double[negatives + positives];
        var isOod = new bool[pooled.Length];
        inDistributionScores.CopyTo(pooled);
        outOfDistributionScores.CopyTo(pooled.AsSpan(negatives));
        foreach (var score in pooled)
        {
            if (double.IsNaN(score))
            {
                throw new ArgumentException("Scores must not be NaN.");
            }
        }

        isOod.AsSpan(negatives).Fill(true);
        Array.Sort(pooled, isOod);

        double positiveRankSum = 0;
        for (int start = 0; start < pooled.Length;)
        {
            var end = start + 1;
            while (end < pooled.Length && pooled[end] == pooled[start])
            {
                end++;
            }

            // Positions start..end−1 hold ranks start+1..end; their average is (start + 1 + end) / 2.
            var averageRank = (start + 1 + end) / 2.0;
            for (int i = start; i < end; i++)
            {
                if (isOod[i])
                {
                    positiveRankSum += averageRank;
                }
            }

            start = end;
        }

        var u = positiveRankSum - (positives * (positives + 1.0) / 2.0);
        return u / ((double)positives * negatives);
    }
}
