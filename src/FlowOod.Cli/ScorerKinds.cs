using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>What a scorer kind needs beyond the trained flow: data and settings, all owned by the caller.</summary>
/// <param name="Training">The flow's training images (llr's background is fine-tuned on them).</param>
/// <param name="Fit">Held-out in-distribution images for the scorers that fit a statistic (typicality, dose, two-sided);
/// never the calibration images.</param>
/// <param name="NewFlow">Makes and trains another flow with the given seed (waic's ensemble members).</param>
internal sealed record ScorerInputs(
    Tensor Training,
    Tensor? Fit,
    TrainingOptions BackgroundTraining,
    double MutationRate,
    int EnsembleSize,
    Func<long, NormalizingFlow> NewFlow);

/// <summary>
/// The scorer kinds the tool builds by name (<c>fit-detector --scorer</c>, <c>score --scorer</c>), each on a trained
/// flow it then owns.
/// </summary>
internal static class ScorerKinds
{
    /// <summary>Every kind fit-detector accepts.</summary>
    public static readonly string[] Names = ["nll", "two-sided", "llr", "two-sided-llr", "complexity", "typicality", "dose", "waic", "stirring"];

    /// <summary>The kinds that need nothing but the flow, which score accepts for a saved flow.</summary>
    public static readonly string[] FlowOnly = ["nll", "complexity"];

    /// <summary>One line per kind, for help texts.</summary>
    public const string Description =
        "nll (bits/dim; fails on MNIST, see the docs), two-sided (|NLL − its held-out mean|, fitted), llr (likelihood ratio, "
        + "background fine-tuned on μ-perturbed images), two-sided-llr, complexity (input complexity, PNG), typicality "
        + "(fitted entropy), dose (KDE of the flow's own statistics, fitted), waic (an ensemble of --ensemble flows), stirring "
        + "(log p of the 7 rotated/flipped images vs log p, median − 3·MAD correction fitted)";

    /// <summary>Whether the kind fits a statistic on held-out in-distribution data.</summary>
    public static bool NeedsFitData(string kind) => kind is "two-sided" or "two-sided-llr" or "typicality" or "dose" or "stirring";

    /// <summary>Throws unless <paramref name="kind"/> is one of <see cref="FlowOnly"/>, saying what to do instead.</summary>
    public static void RequireFlowOnly(string kind)
    {
        if (!FlowOnly.Contains(kind))
        {
            throw new ArgumentException($"--scorer {kind} needs more than a saved flow (held-out data, a background or an ensemble): build it with 'flowood fit-detector --scorer {kind}'. For a flow file use one of {string.Join(", ", FlowOnly)}.", nameof(kind));
        }
    }

    /// <summary>A scorer of <see cref="FlowOnly"/> on a saved flow, which it then owns.</summary>
    public static IOodScorer CreateOnFlow(string kind, NormalizingFlow flow)
    {
        RequireFlowOnly(kind);
        return kind == "nll"
            ? new NegativeLogLikelihoodScorer(flow, ownsFlow: true)
            : new InputComplexityScorer(flow, new PngCompressor(), ownsFlow: true);
    }

    private static Tensor FitData(ScorerInputs inputs) =>
        inputs.Fit ?? throw new ArgumentException("This scorer kind needs held-out in-distribution images to fit on.", nameof(inputs));

    /// <summary>
    /// Builds the scorer <paramref name="kind"/> on <paramref name="flow"/>; the scorer owns the flow (and any
    /// background or ensemble member it makes), also when building fails.
    /// </summary>
    public static IOodScorer Create(string kind, NormalizingFlow flow, ScorerInputs inputs, IAnsiConsole console, bool plain)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(inputs);
        IOodScorer? inner = null;
        try
        {
            switch (kind)
            {
                case "nll":
                    return new NegativeLogLikelihoodScorer(flow, ownsFlow: true);
                case "complexity":
                    return new InputComplexityScorer(flow, new PngCompressor(), ownsFlow: true);
                case "typicality":
                    {
                        double entropy;
                        using (var fitted = TypicalityScorer.Fit(flow, FitData(inputs)))
                        {
                            entropy = fitted.Entropy;
                        }

                        return new TypicalityScorer(flow, entropy, ownsFlow: true);
                    }

                case "dose":
                    {
                        IReadOnlyList<IReadOnlyList<double>> samples;
                        using (var fitted = DoseScorer.Fit(flow, FitData(inputs)))
                        {
                            samples = fitted.FittedStatistics;
                        }

                        return new DoseScorer(flow, samples, ownsFlow: true);
                    }

                case "stirring":
                    {
                        double median, mad;
                        using (var fitted = StirringScorer.Fit(flow, FitData(inputs)))
                        {
                            (median, mad) = (fitted.Median, fitted.MedianAbsoluteDeviation);
                        }

                        return new StirringScorer(flow, median, mad, ownsFlow: true);
                    }

                case "two-sided":
                    inner = new NegativeLogLikelihoodScorer(flow, ownsFlow: true);
                    return TwoSidedScorer.Fit(inner, FitData(inputs), ownsInner: true);
                case "llr":
                case "two-sided-llr":
                    {
                        var background = TrainingDisplay.Run(console, plain, "fine-tuning the llr background", progress =>
                            LikelihoodRatioScorer.FineTuneBackground(flow, inputs.Training, inputs.MutationRate, inputs.BackgroundTraining, progress));
                        inner = new LikelihoodRatioScorer(flow, background, ownsFlows: true);
                        return kind == "llr" ? inner : TwoSidedScorer.Fit(inner, FitData(inputs), ownsInner: true);
                    }

                case "waic":
                    {
                        var ensemble = new List<NormalizingFlow> { flow };
                        try
                        {
                            for (var member = 1; member < inputs.EnsembleSize; member++)
                            {
                                ensemble.Add(inputs.NewFlow(member));
                            }

                            return new WaicScorer(ensemble, ownsFlows: true);
                        }
                        catch
                        {
                            foreach (var other in ensemble.Skip(1))
                            {
                                other.Dispose();
                            }

                            throw;
                        }
                    }

                default:
                    throw new ArgumentException($"--scorer '{kind}' is not a scorer kind; expected one of {string.Join(", ", Names)}.", nameof(kind));
            }
        }
        catch
        {
            if (inner is not null)
            {
                inner.Dispose();
            }
            else
            {
                flow.Dispose();
            }

            throw;
        }
    }
}
