using System;
using System.Globalization;
using FlowOod.Scoring;
using FlowOod.Training;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>
/// How the likelihood ratio's background flow is made: a copy of the foreground fine-tuned on μ-perturbed images, or a
/// fresh flow trained on them (Ren et al.), for a number of steps at lr 10⁻³ with an L2 penalty.
/// </summary>
/// <param name="FromScratch">True: a fresh flow of the foreground's architecture; false: the foreground fine-tuned.</param>
/// <param name="MutationRate">μ, the probability that a pixel is replaced by a uniform 8-bit level.</param>
/// <param name="StepFraction">The background's steps as a fraction of the foreground's.</param>
/// <param name="WeightDecay">The L2 penalty (the optimiser's weight decay).</param>
/// <param name="TwoSided">Whether the ratio is made two-sided (<see cref="TwoSidedScorer"/>, centre and spread fitted on held-out
/// in-distribution images): atypical in either direction is OOD.</param>
internal sealed record LikelihoodRatioSetting(bool FromScratch, double MutationRate, double StepFraction = 1.0, double WeightDecay = 0, bool TwoSided = false)
{
    /// <summary>
    /// The default of <c>flowood scorers</c> and <c>reproduce</c>, chosen by <c>flowood llr-select</c> on the validation
    /// sets only (vertically flipped and blurred held-out Fashion-MNIST training images); see docs/results.md.
    /// </summary>
    public static LikelihoodRatioSetting Default { get; } = new(FromScratch: false, MutationRate: 0.2, TwoSided: true);

    /// <summary>A short label, e.g. "fine-tuned, μ = 0.2".</summary>
    public string Label => string.Create(CultureInfo.InvariantCulture,
        $"{(TwoSided ? "two-sided, " : string.Empty)}{(FromScratch ? "from scratch" : "fine-tuned")}, μ = {MutationRate:0.###}{(StepFraction != 1 ? $", {StepFraction:0.##}× steps" : string.Empty)}{(WeightDecay > 0 ? $", L2 {WeightDecay:0.###}" : string.Empty)}");

    /// <summary>The same background, one-sided or two-sided.</summary>
    public LikelihoodRatioSetting WithSides(bool twoSided) => this with { TwoSided = twoSided };

    /// <summary>
    /// The likelihood-ratio scorer of <paramref name="foreground"/> and <paramref name="background"/> (neither owned), made
    /// two-sided on <paramref name="heldOut"/> when <see cref="TwoSided"/> says so.
    /// </summary>
    public IOodScorer Scorer(NormalizingFlow foreground, NormalizingFlow background, TorchSharp.torch.Tensor heldOut)
    {
        var ratio = new LikelihoodRatioScorer(foreground, background);
        if (!TwoSided)
        {
            return ratio;
        }

        try
        {
            return TwoSidedScorer.Fit(ratio, heldOut, ownsInner: true);
        }
        catch
        {
            ratio.Dispose();
            throw;
        }
    }

    /// <summary>Makes the background of <paramref name="foreground"/>; the caller owns it.</summary>
    public NormalizingFlow Background(
        NormalizingFlow foreground, Func<NormalizingFlow> build, TorchSharp.torch.Tensor train, int foregroundSteps, int batchSize, long seed, IAnsiConsole console, bool plain,
        FlowOod.Precision.ComputePrecision precision = FlowOod.Precision.ComputePrecision.Float32)
    {
        ArgumentNullException.ThrowIfNull(foreground);
        ArgumentNullException.ThrowIfNull(build);
        var steps = Math.Max(1, (int)Math.Round(foregroundSteps * StepFraction));
        var options = new TrainingOptions
        {
            Steps = steps,
            BatchSize = batchSize,
            LearningRate = 1e-3,
            WeightDecay = WeightDecay,
            Seed = seed + 1000,
            ProgressInterval = Math.Max(1, steps / 50),
            Precision = precision,
        };
        if (!FromScratch)
        {
            return TrainingDisplay.Run(console, plain, $"llr background ({Label})",
                progress => LikelihoodRatioScorer.FineTuneBackground(foreground, train, MutationRate, options, progress));
        }

        var background = FlowCache.Build(seed + 1000, build);
        try
        {
            TrainingDisplay.Run(console, plain, $"llr background ({Label})",
                progress => LikelihoodRatioScorer.TrainBackground(background, train, MutationRate, options, progress));
            return background;
        }
        catch
        {
            background.Dispose();
            throw;
        }
    }
}
