using System;

namespace FlowOod.Scoring;

/// <summary>
/// The network sizes and training settings of <see cref="RotationPredictionScorer"/>. The defaults suit 28×28 grey
/// images (Fashion-MNIST): about 0.46 M weights, 1,500 Adam steps of 64 images in 4 rotations each.
/// </summary>
public sealed record RotationPredictionOptions
{
    /// <summary>The largest <see cref="Width"/> accepted.</summary>
    public const int MaxWidth = 256;

    /// <summary>The largest <see cref="Hidden"/> accepted.</summary>
    public const int MaxHidden = 4096;

    /// <summary>The largest <see cref="BatchSize"/> accepted.</summary>
    public const int MaxBatchSize = 4096;

    /// <summary>Channels of the first convolution, w (the next two have 2w). Default 32.</summary>
    public int Width { get; init; } = 32;

    /// <summary>Units of the hidden linear layer, h. Default 128.</summary>
    public int Hidden { get; init; } = 128;

    /// <summary>Adam steps. Default 1,500.</summary>
    public int Steps { get; init; } = 1500;

    /// <summary>Images per step (each shown in its 4 rotations). Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Adam's learning rate. Default 10⁻³.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Seeds the batch order.</summary>
    public long Seed { get; init; }

    internal void Validate(string parameterName)
    {
        if (Width is < 1 or > MaxWidth || Hidden is < 1 or > MaxHidden || Steps < 1 || BatchSize is < 1 or > MaxBatchSize
            || !(LearningRate > 0 && LearningRate <= 10))
        {
            throw new ArgumentException(
                $"Rotation prediction options out of range: Width {Width} (1…{MaxWidth}), Hidden {Hidden} (1…{MaxHidden}), Steps {Steps} (≥ 1), "
                + $"BatchSize {BatchSize} (1…{MaxBatchSize}), LearningRate {LearningRate} (0 < lr ≤ 10).",
                parameterName);
        }
    }
}
