using System;
using System.Collections.Generic;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// One candidate OOD score of <c>flowood generalise</c>: a key, a label for tables, and how it is built from the trained
/// models and held-out in-distribution images (the fit set). Built scorers never own the models.
/// </summary>
internal sealed record Candidate(string Key, string Label, Func<CandidateModels, Tensor, IOodScorer> Build);

/// <summary>
/// What candidates are built on, all trained on the same in-distribution images with the same seed: the full flow, the
/// local flow and the rotation-prediction network (both trained on first use: a run without their candidates skips them).
/// </summary>
internal sealed record CandidateModels(NormalizingFlow Full, Func<NormalizingFlow> Local, Func<RotationPredictionScorer> Rotation);

/// <summary>A scorer used without taking it over: disposing the wrapper leaves the inner scorer alone.</summary>
internal sealed class BorrowedScorer(IOodScorer inner) : IOodScorer
{
    public string Name => inner.Name;

    public double[] Score(Tensor batch) => inner.Score(batch);

    public void Dispose()
    {
    }
}

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
        new("nll", "NLL (bits/dim)", (m, _) => new NegativeLogLikelihoodScorer(m.Full)),
        new("two-sided-nll", "two-sided NLL", (m, fit) => TwoSidedScorer.Fit(new NegativeLogLikelihoodScorer(m.Full), fit, ownsInner: true)),
        new("typicality", "typicality |NLL − Ĥ|", (m, fit) => TypicalityScorer.Fit(m.Full, fit)),
        new("complexity", "input complexity (PNG)", (m, _) => new InputComplexityScorer(m.Full, new PngCompressor())),
        new("local-llr", "local likelihood ratio", (m, _) => new LocalLikelihoodRatioScorer(m.Full, m.Local())),
        new("two-sided-local-llr", "two-sided local likelihood ratio", (m, fit) => TwoSidedScorer.Fit(new LocalLikelihoodRatioScorer(m.Full, m.Local()), fit, ownsInner: true)),
        new("dose", "DoSE (KDE of the flow's statistics, 500 samples each)", (m, fit) => DoseScorer.Fit(m.Full, fit, maxSamplesPerStatistic: DoseSamples)),
        new("stirring", "stirring (7 rotations/flips)", (m, fit) => StirringScorer.Fit(m.Full, fit)),
        new("density-nll-local-llr", "score density of NLL and local likelihood ratio", (m, fit) => ScoreDensityScorer.Fit(
            [new NegativeLogLikelihoodScorer(m.Full), new LocalLikelihoodRatioScorer(m.Full, m.Local())], fit, DoseSamples, ownsMembers: true)),
        new("rotation", "rotation prediction (self-supervised CNN)", (m, _) => new BorrowedScorer(m.Rotation())),
        new("density-nll-rotation", "score density of NLL and rotation prediction", (m, fit) => ScoreDensityScorer.Fit(
            [new NegativeLogLikelihoodScorer(m.Full), new BorrowedScorer(m.Rotation())], fit, DoseSamples, ownsMembers: true)),
        new("density-dose-rotation", "score density of DoSE and rotation prediction", (m, fit) => ScoreDensityScorer.Fit(
            [DoseScorer.Fit(m.Full, fit, maxSamplesPerStatistic: DoseSamples), new BorrowedScorer(m.Rotation())], fit, DoseSamples, ownsMembers: true)),
    ];
}
