using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using FlowOod.Metrics;
using FlowOod.Scoring;

namespace FlowOod.Cli;

/// <summary>The Markdown fragment of <c>flowood generalise</c>: protocol, validation table, choice, report tables.</summary>
internal static class GeneralisePage
{
    public static string Write(
        GeneraliseOptions options,
        BaselineModel full,
        int fullSteps,
        BaselineModel local,
        int trainCount,
        IReadOnlyList<CandidateResult> validation,
        CandidateResult chosen,
        double nllSeconds,
        IReadOnlyList<(long Seed, string Key, IReadOnlyList<OodResult> Results)> report,
        IReadOnlyList<string> reportSets,
        string budgetText,
        TimeSpan elapsed)
    {
        var text = new StringBuilder();
        var held = string.Join(", ", GeneraliseOptions.HeldOutClasses.Select(c => c.ToString(CultureInfo.InvariantCulture)));
        text.AppendLine("## Which scores generalise").AppendLine()
            .AppendLine(Invariant($"Every candidate score is built on one full flow ({full.Description}, {fullSteps} steps) for the local likelihood ratio, a local flow ({local.Description}, {local.Steps} steps), and for the rotation scores a rotation-prediction network (RotationPredictionScorer: a strided CNN learning which of 4 rotations an image was given; {options.RotationSteps ?? new RotationPredictionOptions().Steps} Adam steps of 64 images × 4 rotations), all trained on the first {trainCount} Fashion-MNIST training images. Scores: higher = more OOD; AUROC with OOD = positive."))
            .AppendLine()
            .AppendLine("**Selection protocol** (written before the run; MNIST and every report set are never used to choose):").AppendLine()
            .AppendLine(Invariant($"1. Validation sets come from in-distribution data only: held-out Fashion-MNIST training images {52_000}–{52_000 + options.EffectiveEvaluationLimit - 1} (in-distribution) against their synthetic shifts ({string.Join(", ", GeneraliseOptions.ValidationShifts)}; noise and constant images drawn with another seed than the report's), and Fashion-MNIST classes held out of training: second flows trained without classes {held} (trouser, bag) score held-out images of the kept classes against held-out images of classes {held}."))
            .AppendLine("2. Scorers that fit a statistic (two-sided, typicality, DoSE, stirring, the score densities) fit it on held-out training images 50000–51999 (kept classes only for the held-out-class flows); a score density and a member it fits (DoSE) both use those images.")
            .AppendLine(Invariant($"3. A candidate is eligible if scoring costs at most {options.MaxCostRatio:G}× the NLL scorer's time (measured in the same run: the seconds to score all validation images of the shifts, in-distribution ones included)."))
            .AppendLine("4. The eligible candidate with the highest **worst** validation AUROC wins (a score that generalises must hold on every shift, not on average); ties go to the higher mean.")
            .AppendLine(Invariant($"5. Every candidate is reported on the first seed; the chosen score and NLL (the reference) on {options.Seeds} seeds, each seed training both flows again."))
            .AppendLine();

        var validationSets = validation[0].Results.Select(r => r.OutOfDistribution).ToList();
        text.Append("| candidate | ").AppendJoin(" | ", validationSets.Select(GeneraliseExperiment.Short)).AppendLine(" | worst | mean | cost × NLL |");
        text.Append("|---|").AppendJoin("", validationSets.Select(_ => "---:|")).AppendLine("---:|---:|---:|");
        foreach (var row in validation)
        {
            var name = row == chosen ? $"**{row.Candidate.Label}** (chosen)" : row.Candidate.Label;
            text.Append(Invariant($"| {Escape(name)} | ")).AppendJoin(" | ", row.Results.Select(r => F(r.Auroc)))
                .AppendLine(Invariant($" | {F(row.Results.Min(r => r.Auroc))} | {F(row.Results.Average(r => r.Auroc))} | {row.Seconds / nllSeconds:F1} |"));
        }

        text.AppendLine().AppendLine(Invariant($"Chosen: **{chosen.Candidate.Label}**.")).AppendLine();

        var first = report.Where(r => r.Seed == options.Seed).ToList();
        text.AppendLine(Invariant($"Report, seed {options.Seed}: Fashion-MNIST test (in-distribution) against each set, AUROC with its 95% bootstrap interval (1,000 resamples of both sets):")).AppendLine();
        text.Append("| candidate | ").AppendJoin(" | ", reportSets.Select(GeneraliseExperiment.Short)).AppendLine(" |");
        text.Append("|---|").AppendJoin("", reportSets.Select(_ => "---:|")).AppendLine();
        foreach (var row in first)
        {
            text.Append(Invariant($"| {Escape(Label(validation, row.Key))} | ")).AppendJoin(" | ", row.Results.Select(WithInterval)).AppendLine(" |");
        }

        text.AppendLine().AppendLine(Invariant($"Over seeds {options.Seed}–{options.Seed + options.Seeds - 1} (each seed trains both flows again), the chosen score and NLL: AUROC mean ± sd.")).AppendLine();
        text.Append("| candidate | ").AppendJoin(" | ", reportSets.Select(GeneraliseExperiment.Short)).AppendLine(" |");
        text.Append("|---|").AppendJoin("", reportSets.Select(_ => "---:|")).AppendLine();
        foreach (var key in validation.Select(v => v.Candidate.Key).Where(k => report.Count(r => r.Key == k) > 1))
        {
            var runs = report.Where(r => r.Key == key).ToList();
            text.Append(Invariant($"| {Escape(Label(validation, key))} | "))
                .AppendJoin(" | ", Enumerable.Range(0, reportSets.Count).Select(i => MeanSd(runs.Select(r => r.Results[i].Auroc).ToList())))
                .AppendLine(" |");
        }

        text.AppendLine().Append(Experiments.PageFooter.Markdown(options, elapsed, budgetText));
        return text.ToString();
    }

    private static string Label(IReadOnlyList<CandidateResult> validation, string key) => validation.First(v => v.Candidate.Key == key).Candidate.Label;

    private static string WithInterval(OodResult result)
    {
        var (lower, upper) = OodMetrics.AurocConfidenceInterval(result.InScores, result.OodScores, 0.95, 1000, seed: 1);
        return Invariant($"{result.Auroc:F3} [{lower:F3}, {upper:F3}]");
    }

    private static string MeanSd(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        var sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return Invariant($"{mean:F3} ± {sd:F3}");
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    private static string F(double value) => value.ToString("F3", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}
