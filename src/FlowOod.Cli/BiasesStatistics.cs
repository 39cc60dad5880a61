using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Metrics;
using MathNet.Numerics.Statistics;

namespace FlowOod.Cli;

/// <summary>One model of experiment 4 summarised over its seeds.</summary>
/// <param name="Model">The model.</param>
/// <param name="Runs">Its runs, one per seed, in seed order.</param>
/// <param name="Auroc">Mean and sample standard deviation over seeds of the final MNIST AUROC (sd NaN with one seed).</param>
/// <param name="AurocInterval">95% percentile-bootstrap interval of the seed-mean AUROC over the evaluation images.</param>
/// <param name="BitsPerDim">Mean and standard deviation over seeds of the final held-out bits/dim.</param>
/// <param name="LastQuarterDrop">Mean over seeds of how much held-out bits/dim fell over the last quarter of training
/// (checkpoint nearest 75% of the steps minus the last): near 0 means the curve has flattened.</param>
/// <param name="Synthetic">Mean over seeds of the final AUROC on each synthetic set.</param>
internal sealed record BiasesSummary(
    BiasesModel Model,
    IReadOnlyList<BiasesRun> Runs,
    (double Mean, double Sd) Auroc,
    (double Lower, double Upper) AurocInterval,
    (double Mean, double Sd) BitsPerDim,
    double LastQuarterDrop,
    IReadOnlyList<SetAuroc> Synthetic);

/// <summary>One model's AUROC at the matched held-out bits/dim level of one comparison, at one seed.</summary>
/// <param name="Reached">Fraction of the training steps after which the model's held-out bits/dim first reached the level.</param>
internal sealed record MatchedRow(string Comparison, string Model, long Seed, double Level, double Auroc, double Reached);

/// <summary>How a comparison came out against its noise (rule: <see cref="BiasesComparison"/>).</summary>
internal enum BiasesVerdict
{
    /// <summary>The model's AUROC is above the reference's by more than twice the noise.</summary>
    Above,

    /// <summary>Below the reference's by more than twice the noise.</summary>
    Below,

    /// <summary>The difference is within twice the noise: not shown either way.</summary>
    WithinNoise,
}

/// <summary>
/// A model against its comparison's reference, at equal budget (the last step) or at matched bits/dim. Δ = mean over
/// seeds of the model's AUROC − the reference's. Noise = √(sd_m²/n_m + sd_r²/n_r + se_img²): the seeds' spread of both
/// means and se_img, the standard deviation of Δ over 1,000 paired bootstrap resamples of the evaluation images (both
/// models scored the same images). Verdict: above when Δ &gt; 2·noise, below when Δ &lt; −2·noise, else within noise.
/// At matched bits/dim se_img is the equal-budget one (the matched AUROC is interpolated between checkpoints).
/// </summary>
internal sealed record BiasesComparison(string Comparison, string Kind, string Model, string Reference, double ModelMean, double ReferenceMean, double Noise, double Level)
{
    public const string EqualBudget = "equal budget";
    public const string Matched = "matched bits/dim";

    public double Delta => ModelMean - ReferenceMean;

    public BiasesVerdict Verdict => Delta > 2 * Noise ? BiasesVerdict.Above : Delta < -2 * Noise ? BiasesVerdict.Below : BiasesVerdict.WithinNoise;
}

/// <summary>The statistics of experiment 4: seed summaries, paired image bootstrap, matched bits/dim and verdicts.</summary>
internal static class BiasesStatistics
{
    /// <summary>Bootstrap resamples of the evaluation images.</summary>
    public const int Resamples = 1000;

    /// <summary>A comparison: its name, its reference model and the models compared with it.</summary>
    public sealed record Group(string Name, string Reference, IReadOnlyList<string> Models);

    /// <summary>
    /// The comparisons the models allow: masks (the checkerboard baseline vs every other mask, same st-network);
    /// bottleneck (the auto-encoder st-network without a bottleneck vs with each l — one st-network family; when no
    /// unbottlenecked model exists, the checkerboard baseline is the reference); and, when both exist, bottleneck vs
    /// ResNet (the checkerboard baseline vs each l, the official code's comparison, across st-network families).
    /// </summary>
    public static IReadOnlyList<Group> Groups(IReadOnlyList<BiasesModel> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var baseline = models.FirstOrDefault(m => m.Family == BiasesFamily.Baseline)?.Stem;
        var plain = models.FirstOrDefault(m => m.Family == BiasesFamily.Unbottlenecked)?.Stem;
        string[] Of(BiasesFamily family) => models.Where(m => m.Family == family).Select(m => m.Stem).ToArray();
        var groups = new List<Group>();
        if (baseline is not null && Of(BiasesFamily.Mask) is { Length: > 0 } masks)
        {
            groups.Add(new(BiasesExperiment.MasksComparison, baseline, masks));
        }

        if ((plain ?? baseline) is { } reference && Of(BiasesFamily.Bottleneck) is { Length: > 0 } bottlenecks)
        {
            groups.Add(new(BiasesExperiment.BottleneckComparison, reference, bottlenecks));
            if (plain is not null && baseline is not null)
            {
                groups.Add(new(BiasesExperiment.CrossFamilyComparison, baseline, bottlenecks));
            }
        }

        return groups;
    }

    public static (double Mean, double Sd) MeanSd(IEnumerable<double> values)
    {
        var list = values.ToList();
        return (list.Average(), list.Count > 1 ? list.StandardDeviation() : double.NaN);
    }

    /// <summary>Per seed, every model of <paramref name="group"/> at the level of that seed (the worst model's best held-out bits/dim).</summary>
    public static IEnumerable<MatchedRow> Match(Group group, IReadOnlyDictionary<string, BiasesSummary> summaries)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(summaries);
        var members = new[] { group.Reference }.Concat(group.Models).Select(m => summaries[m]).ToList();
        foreach (var seed in members[0].Runs.Select(r => r.Seed))
        {
            var runs = members.Select(s => s.Runs.FirstOrDefault(r => r.Seed == seed)).ToList();
            if (runs.Any(r => r is null))
            {
                continue;
            }

            var level = MatchedBitsPerDim.Level(runs.Select(r => r!.Checkpoints));
            foreach (var run in runs)
            {
                var steps = run!.Checkpoints[^1].Step;
                var first = run.Checkpoints.FirstOrDefault(c => c.HeldOutBitsPerDim <= level);
                yield return new MatchedRow(group.Name, run.Model, seed, level, MatchedBitsPerDim.AurocAt(run.Checkpoints, level),
                    first is null ? double.NaN : (double)first.Step / steps);
            }
        }
    }

    /// <summary>Seed means and their intervals for every model, sharing one set of image resamples.</summary>
    public static IReadOnlyDictionary<string, BiasesSummary> Summarise(IReadOnlyList<BiasesModel> models, IReadOnlyList<BiasesRun> runs, ImageBootstrap bootstrap)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(bootstrap);
        var result = new Dictionary<string, BiasesSummary>();
        foreach (var model in models)
        {
            var own = runs.Where(r => r.Model == model.Stem).OrderBy(r => r.Seed).ToList();
            if (own.Count == 0)
            {
                continue;
            }

            var resampled = bootstrap.SeedMeanAurocs(own);
            var sets = own[0].Synthetic.Select(s => s.Set).ToList();
            result[model.Stem] = new BiasesSummary(
                model, own,
                MeanSd(own.Select(r => r.FinalAuroc)),
                (resampled.Quantile(0.025), resampled.Quantile(0.975)),
                MeanSd(own.Select(r => r.FinalBitsPerDim)),
                own.Average(LastQuarterDrop),
                sets.Select(set => new SetAuroc(set, own.Average(r => r.Synthetic.First(s => s.Set == set).Auroc))).ToList());
        }

        return result;
    }

    /// <summary>Every model of every group against the group's reference, at equal budget and at matched bits/dim.</summary>
    public static IReadOnlyList<BiasesComparison> Compare(IReadOnlyList<Group> groups, IReadOnlyDictionary<string, BiasesSummary> summaries, IReadOnlyList<MatchedRow> matched, ImageBootstrap bootstrap)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(summaries);
        ArgumentNullException.ThrowIfNull(matched);
        ArgumentNullException.ThrowIfNull(bootstrap);
        var result = new List<BiasesComparison>();
        foreach (var group in groups)
        {
            var reference = summaries[group.Reference];
            var referenceResampled = bootstrap.SeedMeanAurocs(reference.Runs);
            foreach (var name in group.Models)
            {
                var model = summaries[name];
                var resampled = bootstrap.SeedMeanAurocs(model.Runs);
                var imageNoise = resampled.Zip(referenceResampled, (a, b) => a - b).StandardDeviation();
                result.Add(new(group.Name, BiasesComparison.EqualBudget, name, group.Reference, model.Auroc.Mean, reference.Auroc.Mean,
                    Noise(model.Runs.Select(r => r.FinalAuroc), reference.Runs.Select(r => r.FinalAuroc), imageNoise), double.NaN));

                var own = matched.Where(m => m.Comparison == group.Name && m.Model == name).Select(m => m.Auroc).ToList();
                var theirs = matched.Where(m => m.Comparison == group.Name && m.Model == group.Reference).Select(m => m.Auroc).ToList();
                if (own.Count > 0 && theirs.Count > 0)
                {
                    var level = matched.Where(m => m.Comparison == group.Name).Select(m => m.Level).Average();
                    result.Add(new(group.Name, BiasesComparison.Matched, name, group.Reference, own.Average(), theirs.Average(), Noise(own, theirs, imageNoise), level));
                }
            }
        }

        return result;
    }

    // √(sd_a²/n_a + sd_b²/n_b + se_img²); a single seed contributes no seed term.
    private static double Noise(IEnumerable<double> a, IEnumerable<double> b, double imageNoise)
    {
        static double Term(IEnumerable<double> values)
        {
            var list = values.Where(double.IsFinite).ToList();
            return list.Count > 1 ? list.Variance() / list.Count : 0;
        }

        return Math.Sqrt(Term(a) + Term(b) + (imageNoise * imageNoise));
    }

    private static double LastQuarterDrop(BiasesRun run)
    {
        var steps = run.Checkpoints[^1].Step;
        var threeQuarters = run.Checkpoints.MinBy(c => Math.Abs(c.Step - (0.75 * steps)))!;
        return threeQuarters.HeldOutBitsPerDim - run.FinalBitsPerDim;
    }
}

/// <summary>
/// Paired bootstrap over the evaluation images: <see cref="BiasesStatistics.Resamples"/> draws (seeded) of in-distribution
/// and MNIST indices with replacement, the same draws for every model, so differences between models are paired.
/// </summary>
internal sealed class ImageBootstrap
{
    private readonly int[][] inDraws;
    private readonly int[][] oodDraws;
    private readonly Dictionary<IReadOnlyList<BiasesRun>, double[]> computed = new(ReferenceEqualityComparer.Instance);

    public ImageBootstrap(int inCount, int oodCount, int resamples = BiasesStatistics.Resamples, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(oodCount, 1);
        var random = new Random(seed);
        inDraws = new int[resamples][];
        oodDraws = new int[resamples][];
        for (int r = 0; r < resamples; r++)
        {
            inDraws[r] = Enumerable.Range(0, inCount).Select(_ => random.Next(inCount)).ToArray();
            oodDraws[r] = Enumerable.Range(0, oodCount).Select(_ => random.Next(oodCount)).ToArray();
        }
    }

    /// <summary>
    /// Per resample, the mean over <paramref name="runs"/> of the AUROC on the resampled images; computed once per list
    /// of runs (a model's summary and its comparisons share the same list) and kept.
    /// </summary>
    public double[] SeedMeanAurocs(IReadOnlyList<BiasesRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (computed.TryGetValue(runs, out var known))
        {
            return known;
        }

        var result = new double[inDraws.Length];
        var inSample = new double[inDraws[0].Length];
        var oodSample = new double[oodDraws[0].Length];
        for (int r = 0; r < inDraws.Length; r++)
        {
            var sum = 0.0;
            foreach (var run in runs)
            {
                for (int i = 0; i < inSample.Length; i++)
                {
                    inSample[i] = run.InScores[inDraws[r][i]];
                }

                for (int i = 0; i < oodSample.Length; i++)
                {
                    oodSample[i] = run.MnistScores[oodDraws[r][i]];
                }

                sum += OodMetrics.Auroc(inSample, oodSample);
            }

            result[r] = sum / runs.Count;
        }

        computed[runs] = result;
        return result;
    }
}
