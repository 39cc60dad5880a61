using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Training;

namespace FlowOod.Cli;

/// <summary>
/// Training and held-out bits/dim against images seen, recorded from a <see cref="FlowTrainer"/>'s progress reports
/// (<see cref="TrainingProgress.Loss"/>: the training loss averaged over the last reporting interval;
/// <see cref="TrainingProgress.EvaluationLoss"/>: the held-out loss when it was evaluated), written as
/// <c>STEM-training.png</c>/<c>.svg</c> next to an experiment's other figures.
/// </summary>
internal sealed class TrainingCurve
{
    /// <summary>At most this many held-out images are evaluated during training.</summary>
    public const int MaxHeldOutImages = 500;

    /// <summary>At least this many held-out images are evaluated (when that many exist).</summary>
    public const int MinHeldOutImages = 64;

    private readonly List<(double Images, double BitsPerDim)> training = [];
    private readonly List<(double Images, double BitsPerDim)> heldOut = [];

    /// <summary>A curve of <paramref name="model"/> trained with mini-batches of <paramref name="batchSize"/> images.</summary>
    /// <param name="model">The model's name, for the title.</param>
    /// <param name="batchSize">Images per step (the trainer's batch size, at most the training set's size).</param>
    /// <param name="heldOutDescription">What the held-out images are (for the legend), or null when none are evaluated.</param>
    public TrainingCurve(string model, int batchSize, string? heldOutDescription)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Model = model;
        BatchSize = batchSize;
        HeldOutDescription = heldOutDescription;
    }

    /// <summary>The model's name.</summary>
    public string Model { get; }

    /// <summary>Images per training step.</summary>
    public int BatchSize { get; }

    /// <summary>What the held-out images are, or null when none are evaluated.</summary>
    public string? HeldOutDescription { get; }

    /// <summary>(images seen, training bits/dim averaged over the last reporting interval) per progress report.</summary>
    public IReadOnlyList<(double Images, double BitsPerDim)> Training => training;

    /// <summary>(images seen, held-out bits/dim) per held-out evaluation.</summary>
    public IReadOnlyList<(double Images, double BitsPerDim)> HeldOut => heldOut;

    /// <summary>
    /// Held-out images to evaluate for a run of <paramref name="steps"/> × <paramref name="batchSize"/> images: about 3% of
    /// the images trained on, within [<see cref="MinHeldOutImages"/>, <see cref="MaxHeldOutImages"/>], so ten evaluations
    /// (forward passes only) cost about a tenth of the training.
    /// </summary>
    public static int HeldOutImages(int steps, int batchSize) =>
        (int)Math.Clamp(0.03 * steps * batchSize, MinHeldOutImages, MaxHeldOutImages);

    /// <summary>Steps between held-out evaluations: a tenth of the run (the trainer also evaluates after the last step).</summary>
    public static int EvaluationInterval(int steps) => Math.Max(1, (steps + 9) / 10);

    /// <summary>A curve recorded earlier (<see cref="SavedFlows"/>): its training and held-out points as (images, bits/dim).</summary>
    public static TrainingCurve Restore(string model, int batchSize, string? heldOutDescription, IEnumerable<(double Images, double BitsPerDim)> training, IEnumerable<(double Images, double BitsPerDim)> heldOut)
    {
        ArgumentNullException.ThrowIfNull(training);
        ArgumentNullException.ThrowIfNull(heldOut);
        var curve = new TrainingCurve(model, batchSize, heldOutDescription);
        curve.training.AddRange(training);
        curve.heldOut.AddRange(heldOut);
        return curve;
    }

    /// <summary>Records <paramref name="progress"/>.</summary>
    public void Add(TrainingProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var images = (double)progress.Step * BatchSize;
        if (double.IsFinite(progress.Loss))
        {
            training.Add((images, progress.Loss));
        }

        if (progress.EvaluationLoss is { } evaluated && double.IsFinite(evaluated))
        {
            heldOut.Add((images, evaluated));
        }
    }

    /// <summary>A progress sink that records each report and passes it on to <paramref name="next"/>.</summary>
    public IProgress<TrainingProgress> Recording(IProgress<TrainingProgress> next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return new SyncProgress<TrainingProgress>(p =>
        {
            Add(p);
            next.Report(p);
        });
    }

    /// <summary>
    /// Writes the curve to <paramref name="folder"/>/<paramref name="stem"/>-training.png and .svg; returns both paths.
    /// </summary>
    public IReadOnlyList<string> Write(string folder, string stem)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentException.ThrowIfNullOrEmpty(stem);
        var path = Path.Combine(folder, stem + "-training");
        var series = new List<(string Name, double[] X, double[] Y)>
        {
            ("training (mean of the last reporting interval)", training.Select(p => p.Images).ToArray(), training.Select(p => p.BitsPerDim).ToArray()),
        };
        if (HeldOutDescription is not null)
        {
            var last = heldOut.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $", last {heldOut[^1].BitsPerDim:F3}") : string.Empty;
            series.Add(($"held-out: {HeldOutDescription}{last}", heldOut.Select(p => p.Images).ToArray(), heldOut.Select(p => p.BitsPerDim).ToArray()));
        }

        Plots.Curves(path, $"{Model}: training curve", "images seen (steps × batch size)", "bits/dim (lower = better fit)", series);
        return [path + ".png", path + ".svg"];
    }
}
