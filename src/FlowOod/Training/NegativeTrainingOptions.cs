using System;

namespace FlowOod.Training;

/// <summary>
/// Settings of negative training (<see cref="FlowTrainer.TrainWithNegatives"/>; Kirichenko et al. 2020, App. B):
/// maximum likelihood on the in-distribution data while the likelihood of a negative (OOD) set is pushed down, each
/// negative only until its loss passes <see cref="BoundBitsPerDim"/>.
/// </summary>
public sealed record NegativeTrainingOptions
{
    /// <summary>
    /// The paper's bound for (Fashion-)MNIST, 30000 nats per image, in bits/dim of a 28×28 image:
    /// 30000 / (784 · ln 2) ≈ 55.206 bits/dim.
    /// </summary>
    public static readonly double PaperBoundBitsPerDim = 30_000 / (784 * Math.Log(2));

    /// <summary>
    /// A negative example contributes to the loss only while its per-example loss, in the trainer's unit (bits/dim of the
    /// discrete data for flows with discretization levels, i.e. −(log p(x) − D·log k)/(D·ln 2); nats/dim ÷ ln 2 for
    /// continuous data), is below this bound. Default <see cref="PaperBoundBitsPerDim"/> (the paper's
    /// <c>--negative_val=-30000</c> nats per image for 784 dimensions). Must be positive and finite. For D dimensions a bound
    /// of b bits/dim is b · D · ln 2 nats per example.
    /// </summary>
    public double BoundBitsPerDim { get; init; } = PaperBoundBitsPerDim;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="BoundBitsPerDim"/> is not positive and finite.</exception>
    public void Validate()
    {
        if (!(BoundBitsPerDim > 0) || double.IsInfinity(BoundBitsPerDim))
        {
            throw new ArgumentOutOfRangeException(nameof(BoundBitsPerDim), BoundBitsPerDim, "BoundBitsPerDim must be positive and finite.");
        }
    }
}
