using System;
using FlowOod.Scoring;

namespace FlowOod.Embeddings;

/// <summary>Settings of <see cref="EmbeddingDetector"/>'s <c>Fit</c> methods, besides the rows.</summary>
public sealed record EmbeddingDetectorOptions
{
    /// <summary>α, the target false-positive rate on in-distribution rows, in (0, 1). Default 0.05.</summary>
    public double TargetFalsePositiveRate { get; init; } = 0.05;

    /// <summary>
    /// The fraction of the rows held out to calibrate the detector (the rest trains the flow), in (0, 1). Default 0.25.
    /// The held-out part must have at least ⌈1/α⌉ rows and the training part at least 2.
    /// </summary>
    public double CalibrationFraction { get; init; } = 0.25;

    /// <summary>Seed of the random train/calibration split (a private generator; torch's global generator is not used). Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// The fixed number of rows the flow sees per evaluation, 1 … <see cref="EmbeddingDetector.MaxChunkSize"/>; default
    /// <see cref="EmbeddingDetector.DefaultChunkSize"/>. Every batch is cut into chunks of exactly this many rows, the
    /// last padded with copies of its last row, so a row's score is bit-identical whatever batch or position it comes in
    /// (libtorch picks kernels by batch size). A single row costs one chunk's evaluation, except where the flow is
    /// computed in managed code (chunks of up to 16 rows of a flow FlowOod has that path for): there each row is scored alone.
    /// </summary>
    public int ChunkSize { get; init; } = EmbeddingDetector.DefaultChunkSize;

    /// <summary>
    /// The feature flow's hyper-parameters (<see cref="FeatureSpaceFitOptions.Flow"/>, a <c>TabularRealNvpOptions</c>),
    /// its training and its device (<see cref="FeatureSpaceFitOptions.Device"/>: rows are moved there chunk by chunk).
    /// Default <c>new FeatureSpaceFitOptions()</c>.
    /// </summary>
    public FeatureSpaceFitOptions FeatureFlow { get; init; } = new();

    /// <summary>Throws when a setting is missing or out of range.</summary>
    /// <exception cref="ArgumentNullException"><see cref="FeatureFlow"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α, the calibration fraction, the chunk size or a flow setting is out of range.</exception>
    public void Validate()
    {
        if (!(TargetFalsePositiveRate > 0 && TargetFalsePositiveRate < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(TargetFalsePositiveRate), TargetFalsePositiveRate, $"The target false-positive rate must lie strictly between 0 and 1, got {TargetFalsePositiveRate}.");
        }

        if (!(CalibrationFraction > 0 && CalibrationFraction < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(CalibrationFraction), CalibrationFraction, $"The calibration fraction must lie strictly between 0 and 1, got {CalibrationFraction}.");
        }

        if (ChunkSize is < 1 or > EmbeddingDetector.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(
                nameof(ChunkSize), ChunkSize, $"The chunk size must be between 1 and {EmbeddingDetector.MaxChunkSize}, got {ChunkSize}.");
        }

        ArgumentNullException.ThrowIfNull(FeatureFlow, nameof(FeatureFlow));
        FeatureFlow.Validate();
    }
}
