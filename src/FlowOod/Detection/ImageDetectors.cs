using System;
using System.Linq;
using System.Threading;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Detection;

/// <summary>
/// In-distribution images in, a calibrated OOD detector out, in one call, with no classifier and no OOD examples:
/// <c>using var detector = ImageDetectors.Fit(images);</c>. Put it in front of a classifier with
/// <c>OodGate.Create(classifier, detector, inputShape)</c>.
/// </summary>
/// <remarks>
/// <para>What <see cref="Fit"/> does with N images <c>[N, C, H, W]</c> in [0, 1] (8-bit levels): a seeded split
/// (<see cref="ImageDetectorOptions.Seed"/>, a private generator) holds out ⌊N·<see cref="ImageDetectorOptions.CalibrationFraction"/>⌉
/// images to calibrate the threshold and ⌊rest·<see cref="ImageDetectorOptions.FitFraction"/>⌉ to fit the scores that
/// fit a statistic; the remaining images train the full flow (<see cref="ImageDetectorOptions.Flow"/>), for the local
/// likelihood ratio the local flow, and for the rotation scores the rotation network (<see cref="ImageDetectorOptions.Rotation"/>); the score (<see cref="ImageDetectorOptions.Score"/>) is built on them and
/// <see cref="OodDetector.Calibrate"/> sets the threshold at α on the calibration images. No image is used twice.</para>
/// <para>The default score is <see cref="RecommendedScore"/>: the one <c>flowood generalise</c> chose on validation sets
/// derived from in-distribution data only (held-out images, their synthetic shifts, classes held out of training);
/// docs/results.md gives every score's AUROC on MNIST and on shifts nobody chose on.</para>
/// <para>Initial weights are drawn from torch's global generator, as every FlowOod builder does: seed it
/// (<c>torch.random.manual_seed</c>) in your application for a reproducible detector; the library never seeds it.</para>
/// </remarks>
public static class ImageDetectors
{
    /// <summary>The score <c>flowood generalise</c> chose without OOD data (see the remarks of <see cref="ImageDetectors"/>).</summary>
    public const ImageScore RecommendedScore = ImageScore.DoseAndRotation;

    /// <summary>Held-out samples per statistic the DoSE score keeps (its KDE's cost; <c>flowood generalise</c> measured it at 500).</summary>
    public const int DoseSamplesPerStatistic = 500;

    /// <summary>Trains the flow(s), builds the score and calibrates a detector on <paramref name="images"/>.</summary>
    /// <param name="images">In-distribution images <c>[N, C, H, W]</c> in [0, 1], 8-bit levels, on the device to train on;
    /// not modified. N must leave ⌈1/α⌉ images for calibration and at least 2 for fitting and for training.</param>
    /// <param name="options">The score, flows, training and splits; null: the defaults.</param>
    /// <param name="progress">Receives the trainers' progress reports (the full flow's, then the local flow's).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The calibrated detector; it owns its scorer and flows (dispose it).</returns>
    /// <exception cref="ArgumentException">The images are not a batch of images in [0, 1], or too few for the splits.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="TrainingDivergedException">A flow's training diverged.</exception>
    public static OodDetector Fit(
        Tensor images, ImageDetectorOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        options ??= new ImageDetectorOptions();
        options.Validate();
        if (images.dim() != 4)
        {
            throw new ArgumentException($"The detector is fitted on a batch of images [N, C, H, W]; got {Shapes.Format(images.Sizes())}.", nameof(images));
        }

        if (options.Score is ImageScore.RotationPrediction or ImageScore.DoseAndRotation
            && (images.size(2) != images.size(3) || images.size(2) % 4 != 0 || images.size(2) > RotationPredictionScorer.MaxSize))
        {
            throw new ArgumentException(
                $"The score {options.Score} rotates images by 90°, so it needs square images with a side that is a multiple of 4 (up to {RotationPredictionScorer.MaxSize}); got {Shapes.Format(images.Sizes())}. "
                + $"Crop or pad the images, or choose Score = {nameof(ImageScore)}.{nameof(ImageScore.Dose)}.",
                nameof(images));
        }

        var count = images.size(0);
        var calibrationCount = CalibrationSplit.CalibrationCount(count, options.CalibrationFraction, options.TargetFalsePositiveRate, "images", nameof(images));
        var (rest, calibrationIndices) = CalibrationSplit.Split(count, calibrationCount, options.Seed);
        var fitCount = (long)Math.Round(rest.Length * options.FitFraction, MidpointRounding.AwayFromZero);
        if (fitCount < 2 || rest.Length - fitCount < 2)
        {
            throw new ArgumentException(
                $"{count} images leave {rest.Length} after calibration; a fit fraction of {options.FitFraction} must leave at least 2 to fit the score and 2 to train the flow. Give more images.",
                nameof(images));
        }

        if (options.Score == ImageScore.DoseAndRotation && fitCount < 4)
        {
            throw new ArgumentException(
                $"The DoSE-and-rotation score needs at least 4 fit images (two halves of 2); a fit fraction of {options.FitFraction} gave {fitCount}. Give more images or a larger FitFraction.",
                nameof(images));
        }

        var (trainPositions, fitPositions) = CalibrationSplit.Split(rest.Length, fitCount, unchecked(options.Seed + 1));
        using var train = Select(images, trainPositions.Select(p => rest[p]).ToArray());
        using var fit = Select(images, fitPositions.Select(p => rest[p]).ToArray());
        using var calibration = Select(images, calibrationIndices);

        var scorer = BuildScorer(train, fit, options, progress, cancellationToken);
        try
        {
            return OodDetector.Calibrate(scorer, calibration, options.TargetFalsePositiveRate, ownsScorer: true);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    private static IOodScorer BuildScorer(Tensor train, Tensor fit, ImageDetectorOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        if (options.Score == ImageScore.RotationPrediction)
        {
            return RotationPredictionScorer.Train(train, options.Rotation, cancellationToken: cancellationToken);
        }

        var flow = options.Flow.Build(train.Sizes().Skip(1).ToArray(), train.device);
        NormalizingFlow? local = null;
        try
        {
            new FlowTrainer(flow, options.Training).Train(train, progress: progress, cancellationToken: cancellationToken);
            flow.eval();
            if (options.Score is ImageScore.LocalLikelihoodRatio or ImageScore.TwoSidedLocalLikelihoodRatio)
            {
                local = LocalLikelihoodRatioScorer.TrainLocalFlow(train, options.Training, options.LocalFlow, progress, cancellationToken);
            }

            return options.Score switch
            {
                ImageScore.InputComplexity => new InputComplexityScorer(flow, new PngCompressor(), ownsFlow: true),
                ImageScore.Dose => Owning(DoseScorer.Fit(flow, fit, maxSamplesPerStatistic: DoseSamplesPerStatistic), f => new DoseScorer(flow, f.FittedStatistics, ownsFlow: true)),
                ImageScore.Typicality => Owning(TypicalityScorer.Fit(flow, fit), f => new TypicalityScorer(flow, f.Entropy, ownsFlow: true)),
                ImageScore.Stirring => Owning(StirringScorer.Fit(flow, fit), f => new StirringScorer(flow, f.Median, f.MedianAbsoluteDeviation, ownsFlow: true)),
                ImageScore.LocalLikelihoodRatio => new LocalLikelihoodRatioScorer(flow, local!, ownsFlows: true),
                ImageScore.TwoSidedLocalLikelihoodRatio => TwoSidedScorer.Fit(new LocalLikelihoodRatioScorer(flow, local!, ownsFlows: true), fit, ownsInner: true),
                ImageScore.DoseAndRotation => DoseAndRotation(flow, train, fit, options, cancellationToken),
                _ => new NegativeLogLikelihoodScorer(flow, ownsFlow: true),
            };
        }
        catch
        {
            flow.Dispose();
            local?.Dispose();
            throw;
        }
    }

    // DoSE fitted on the first half of the fit images, the density of (DoSE, rotation) on the second: each member is
    // fitted on images the density never sees, as ScoreDensityScorer asks. The result owns the flow and the network.
    private static IOodScorer DoseAndRotation(NormalizingFlow flow, Tensor train, Tensor fit, ImageDetectorOptions options, CancellationToken cancellationToken)
    {
        var half = fit.size(0) / 2;
        using var doseFit = fit.narrow(0, 0, half);
        using var densityFit = fit.narrow(0, half, fit.size(0) - half);
        var dose = Owning(DoseScorer.Fit(flow, doseFit, maxSamplesPerStatistic: DoseSamplesPerStatistic), f => new DoseScorer(flow, f.FittedStatistics, ownsFlow: true));
        RotationPredictionScorer? rotation = null;
        try
        {
            rotation = RotationPredictionScorer.Train(train, options.Rotation, cancellationToken: cancellationToken);
            return ScoreDensityScorer.Fit([dose, rotation], densityFit, DoseSamplesPerStatistic, ownsMembers: true);
        }
        catch
        {
            rotation?.Dispose(); // the flow, which dose holds, is disposed by the caller's catch
            throw;
        }
    }

    // A scorer fitted on a flow it does not own, rebuilt from its fitted numbers as one that owns the flow.
    private static IOodScorer Owning<T>(T fitted, Func<T, IOodScorer> owning)
        where T : IOodScorer
    {
        using (fitted)
        {
            return owning(fitted);
        }
    }

    private static Tensor Select(Tensor images, long[] indices)
    {
        using var index = tensor(indices, device: images.device);
        return images.index_select(0, index);
    }
}
