using System;
using System.Collections.Generic;
using MathNet.Numerics.Statistics;

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
        // Pool the scores sorted ascending with a flag for OOD membership, then give every run of equal scores the
        // average of the ranks it spans. Equality is tested with ==, so equal infinities (score −log p = +∞ for p = 0)
        // tie; MathNet's Ranks(RankDefinition.Average) compares |a − b| <= 0, which is NaN for ∞ − ∞, and splits them.
        var (pooled, isOod) = Pool(inDistributionScores, outOfDistributionScores);
        var positives = outOfDistributionScores.Length;
        var negatives = inDistributionScores.Length;

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

    /// <summary>
    /// Every distinct operating point, from the highest threshold (fewest inputs flagged) to the lowest (all flagged),
    /// preceded by the point that flags nothing. Ties share one point. OOD is the positive class.
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty or a score is NaN.</exception>
    public static IReadOnlyList<OperatingPoint> Curve(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores)
    {
        var (scores, isOod) = Pool(inDistributionScores, outOfDistributionScores);
        double negatives = inDistributionScores.Length, positives = outOfDistributionScores.Length;
        var points = new List<OperatingPoint> { new(double.PositiveInfinity, 0, 0, 1) };
        long truePositives = 0, falsePositives = 0;
        for (int i = scores.Length - 1; i >= 0;)
        {
            var threshold = scores[i];
            while (i >= 0 && scores[i] == threshold)
            {
                if (isOod[i])
                {
                    truePositives++;
                }
                else
                {
                    falsePositives++;
                }

                i--;
            }

            points.Add(new OperatingPoint(
                threshold, truePositives / positives, falsePositives / negatives, truePositives / (double)(truePositives + falsePositives)));
        }

        return points;
    }

    /// <summary>
    /// Area under the precision–recall curve with OOD as the positive class ("AUPR-Out"), as average precision:
    /// Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct thresholds (scikit-learn's <c>average_precision_score</c>). Chance level is
    /// the OOD fraction n_ood/(n_in + n_ood).
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty or a score is NaN.</exception>
    public static double AuprOut(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores)
    {
        double area = 0, previousRecall = 0;
        foreach (var point in Curve(inDistributionScores, outOfDistributionScores))
        {
            area += (point.TruePositiveRate - previousRecall) * point.Precision;
            previousRecall = point.TruePositiveRate;
        }

        return area;
    }

    /// <summary>
    /// Area under the precision–recall curve with the <i>in-distribution</i> inputs as the positive class ("AUPR-In"):
    /// average precision of the negated scores. Chance level is n_in/(n_in + n_ood).
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty or a score is NaN.</exception>
    public static double AuprIn(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores) =>
        AuprOut(Negated(outOfDistributionScores), Negated(inDistributionScores));

    /// <summary>
    /// False-positive rate at the given true-positive rate (OOD positive): the fraction of in-distribution inputs flagged
    /// by the highest threshold that flags at least <paramref name="truePositiveRate"/> of the OOD inputs
    /// ("FPR@95%TPR" with the default 0.95). Lower is better.
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty, a score is NaN, or the rate is not in (0, 1].</exception>
    public static double FprAtTpr(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores, double truePositiveRate = 0.95)
    {
        if (!(truePositiveRate > 0 && truePositiveRate <= 1))
        {
            throw new ArgumentException($"The true-positive rate must lie in (0, 1], got {truePositiveRate}.", nameof(truePositiveRate));
        }

        foreach (var point in Curve(inDistributionScores, outOfDistributionScores))
        {
            if (point.TruePositiveRate >= truePositiveRate)
            {
                return point.FalsePositiveRate;
            }
        }

        return 1.0; // unreachable: the last point flags everything (TPR = 1)
    }

    /// <summary>
    /// Detection error: the smallest misclassification probability over thresholds with equal class priors,
    /// min_t ½(1 − TPR(t)) + ½·FPR(t). 0 = perfect, ½ = chance.
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty or a score is NaN.</exception>
    public static double DetectionError(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores)
    {
        var best = 0.5;
        foreach (var point in Curve(inDistributionScores, outOfDistributionScores))
        {
            best = Math.Min(best, 0.5 * (1 - point.TruePositiveRate) + (0.5 * point.FalsePositiveRate));
        }

        return best;
    }

    /// <summary>
    /// A percentile-bootstrap confidence interval for <see cref="Auroc"/>: both sets are resampled with replacement
    /// <paramref name="resamples"/> times (seeded, so the interval is reproducible) and the (1 − level)/2 and
    /// (1 + level)/2 quantiles of the resampled AUROCs are returned.
    /// </summary>
    /// <exception cref="ArgumentException">A set is empty, a score is NaN, the level is not in (0, 1) or resamples &lt; 10.</exception>
    public static (double Lower, double Upper) AurocConfidenceInterval(
        ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores, double level = 0.95, int resamples = 1000, int seed = 0)
    {
        if (!(level > 0 && level < 1))
        {
            throw new ArgumentException($"The confidence level must lie in (0, 1), got {level}.", nameof(level));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 10);
        Pool(inDistributionScores, outOfDistributionScores); // validates
        var inScores = inDistributionScores.ToArray();
        var oodScores = outOfDistributionScores.ToArray();
        var random = new Random(seed);
        var inSample = new double[inScores.Length];
        var oodSample = new double[oodScores.Length];
        var aurocs = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < inSample.Length; i++)
            {
                inSample[i] = inScores[random.Next(inScores.Length)];
            }

            for (int i = 0; i < oodSample.Length; i++)
            {
                oodSample[i] = oodScores[random.Next(oodScores.Length)];
            }

            aurocs[r] = Auroc(inSample, oodSample);
        }

        return (Statistics.Quantile(aurocs, (1 - level) / 2), Statistics.Quantile(aurocs, (1 + level) / 2));
    }

    /// <summary>The pooled scores sorted ascending, with OOD membership; validates both sets.</summary>
    private static (double[] Scores, bool[] IsOod) Pool(ReadOnlySpan<double> inDistributionScores, ReadOnlySpan<double> outOfDistributionScores)
    {
        var negatives = inDistributionScores.Length;
        var positives = outOfDistributionScores.Length;
        if (negatives == 0 || positives == 0)
        {
            throw new ArgumentException($"OOD metrics need both sets non-empty; got {negatives} in-distribution and {positives} OOD scores.");
        }

        var pooled = new double[negatives + positives];
        var isOod = new bool[pooled.Length];
        inDistributionScores.CopyTo(pooled);
        outOfDistributionScores.CopyTo(pooled.AsSpan(negatives));
        if (Array.Exists(pooled, double.IsNaN))
        {
            throw new ArgumentException("Scores must not be NaN.");
        }

        isOod.AsSpan(negatives).Fill(true);
        Array.Sort(pooled, isOod);
        return (pooled, isOod);
    }

    private static double[] Negated(ReadOnlySpan<double> scores)
    {
        var negated = new double[scores.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            negated[i] = -scores[i];
        }

        return negated;
    }
}
