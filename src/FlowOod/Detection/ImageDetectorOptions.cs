using System;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;

namespace FlowOod.Detection;

/// <summary>The score an <see cref="ImageDetectors"/> detector uses (every one: higher = more out-of-distribution).</summary>
public enum ImageScore
{
    /// <summary><see cref="Scoring.InputComplexityScorer"/> with a PNG compressor: −log₂ p(x) − L(x).</summary>
    InputComplexity,

    /// <summary><see cref="Scoring.DoseScorer"/>: the density of the flow's own statistics, fitted on held-out images.</summary>
    Dose,

    /// <summary><see cref="Scoring.LocalLikelihoodRatioScorer"/>: log p_local − log p_full per dimension; trains a local flow too.</summary>
    LocalLikelihoodRatio,

    /// <summary>The local likelihood ratio made two-sided (<see cref="Scoring.TwoSidedScorer"/>), fitted on held-out images.</summary>
    TwoSidedLocalLikelihoodRatio,

    /// <summary><see cref="Scoring.TypicalityScorer"/>: |NLL − Ĥ|, Ĥ fitted on held-out images.</summary>
    Typicality,

    /// <summary><see cref="Scoring.StirringScorer"/>: likelihood of the 7 rotations and flips against the image's; 8 flow passes per image.</summary>
    Stirring,

    /// <summary><see cref="Scoring.NegativeLogLikelihoodScorer"/> in bits/dim: the score Kirichenko et al. show failing on MNIST.</summary>
    NegativeLogLikelihood,

    /// <summary><see cref="Scoring.RotationPredictionScorer"/>: a self-supervised CNN's failure to tell the 4 rotations of the image apart; trains no flow.</summary>
    RotationPrediction,

    /// <summary>
    /// <see cref="Scoring.ScoreDensityScorer"/> of <see cref="Scoring.DoseScorer"/> and <see cref="Scoring.RotationPredictionScorer"/>:
    /// the flow's statistics catch what changes pixel statistics (noise, constant images, inverted ones), the rotation
    /// network what changes content (other objects, garments upside down). DoSE and the density are fitted on the two
    /// halves of the fit images.
    /// </summary>
    DoseAndRotation,
}

/// <summary>
/// Settings of <see cref="ImageDetectors.Fit"/>. The defaults are the score chosen by <c>flowood generalise</c> on
/// in-distribution-derived validation sets only and the flows that run measured (docs/results.md, "Which scores
/// generalise").
/// </summary>
public sealed record ImageDetectorOptions
{
    /// <summary>The score. Default: the one the selection protocol chose (<see cref="ImageDetectors.RecommendedScore"/>).</summary>
    public ImageScore Score { get; init; } = ImageDetectors.RecommendedScore;

    /// <summary>The full flow's architecture. Default: Glow, 2 scales × 4 steps, width 32 (30,272 parameters on 28×28).</summary>
    public IFlowBuilderOptions Flow { get; init; } = new GlowOptions { Scales = 2, StepsPerScale = 4, Width = 32 };

    /// <summary>The local flow of the local likelihood ratio. Default <see cref="AutoregressiveFlowOptions.Local"/>.</summary>
    public IFlowBuilderOptions LocalFlow { get; init; } = AutoregressiveFlowOptions.Local;

    /// <summary>The rotation-prediction network (<see cref="ImageScore.RotationPrediction"/>, <see cref="ImageScore.DoseAndRotation"/>). Default <see cref="RotationPredictionOptions"/> with seed 1.</summary>
    public RotationPredictionOptions Rotation { get; init; } = new() { Seed = 1 };

    /// <summary>Training of both flows. Default: 600 steps of 64 images, Adam at lr 10⁻³, seed 1.</summary>
    public TrainingOptions Training { get; init; } = new() { Steps = 600, BatchSize = 64, LearningRate = 1e-3, Seed = 1 };

    /// <summary>α, the target false-positive rate of the calibrated detector, in (0, 1). Default 0.05.</summary>
    public double TargetFalsePositiveRate { get; init; } = 0.05;

    /// <summary>The fraction of the images held out to calibrate the threshold, in (0, 0.5]. Default 0.1.</summary>
    public double CalibrationFraction { get; init; } = 0.1;

    /// <summary>The fraction held out to fit the scores that fit a statistic (two-sided, typicality, DoSE, stirring), in (0, 0.5]. Default 0.1.</summary>
    public double FitFraction { get; init; } = 0.1;

    /// <summary>Seed of the split of the images (a private generator; torch's global generator is not touched). Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Throws when a value is missing or out of range.</summary>
    /// <exception cref="ArgumentNullException">A part is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Flow, nameof(Flow));
        ArgumentNullException.ThrowIfNull(LocalFlow, nameof(LocalFlow));
        ArgumentNullException.ThrowIfNull(Training, nameof(Training));
        ArgumentNullException.ThrowIfNull(Rotation, nameof(Rotation));
        if (!Enum.IsDefined(Score))
        {
            throw new ArgumentOutOfRangeException(nameof(Score), Score, "Unknown image score.");
        }

        if (!(TargetFalsePositiveRate > 0 && TargetFalsePositiveRate < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TargetFalsePositiveRate), TargetFalsePositiveRate, "The target false-positive rate must lie in (0, 1).");
        }

        if (!(CalibrationFraction > 0 && CalibrationFraction <= 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(CalibrationFraction), CalibrationFraction, "The calibration fraction must lie in (0, 0.5].");
        }

        if (!(FitFraction > 0 && FitFraction <= 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(FitFraction), FitFraction, "The fit fraction must lie in (0, 0.5].");
        }
    }
}
