using System;
using System.Collections.Generic;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// One candidate OOD score of <c>flowood generalise</c>: a key, a label for tables, and how it is built from the full
/// flow, the local flow and held-out in-distribution images (the fit set). Built scorers never own the flows.
/// </summary>
internal sealed record Candidate(string Key, string Label, Func<NormalizingFlow, NormalizingFlow, Tensor, IOodScorer> Build);

/// <summary>The candidates, in table order.</summary>
internal static class Candidates
{
    /// <summary>
    /// DoSE's KDE keeps this many held-out samples per statistic (the library's default keeps 2,000): the KDE costs
    /// S·m kernel evaluations per image, which at m = 2,000 took 5.5× the small Glow's NLL pass in the first run
    /// (docs/results.md), above the 3× the selection allows; the cap was set for cost, before any AUROC at 500 was seen.
    /// </summary>
    public const int DoseSamples = Detection.ImageDetectors.DoseSamplesPerStatistic;

    public static IReadOnlyList<Candidate> All { get; } =
    [
        new("nll", "NLL (bits/dim)", (full, _, _) => new NegativeLogLikelihoodScorer(full)),
        new("two-sided-nll", "two-sided NLL", (full, _, fit) => TwoSidedScorer.Fit(new NegativeLogLikelihoodScorer(full), fit, ownsInner: true)),
        new("typicality", "typicality |NLL − Ĥ|", (full, _, fit) => TypicalityScorer.Fit(full, fit)),
        new("complexity", "input complexity (PNG)", (full, _, _) => new InputComplexityScorer(full, new PngCompressor())),
        new("local-llr", "local likelihood ratio", (full, local, _) => new LocalLikelihoodRatioScorer(full, local)),
        new("two-sided-local-llr", "two-sided local likelihood ratio", (full, local, fit) => TwoSidedScorer.Fit(new LocalLikelihoodRatioScorer(full, local), fit, ownsInner: true)),
        new("dose", "DoSE (KDE of the flow's statistics, 500 samples each)", (full, _, fit) => DoseScorer.Fit(full, fit, maxSamplesPerStatistic: DoseSamples)),
        new("stirring", "stirring (7 rotations/flips)", (full, _, fit) => StirringScorer.Fit(full, fit)),
        new("density-nll-local-llr", "score density of NLL and local likelihood ratio", (full, local, fit) => ScoreDensityScorer.Fit(
            [new NegativeLogLikelihoodScorer(full), new LocalLikelihoodRatioScorer(full, local)], fit, DoseSamples, ownsMembers: true)),
    ];
}
