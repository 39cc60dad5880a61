using System;
using FlowOod.Precision;

namespace FlowOod.Training;

/// <summary>Settings of <see cref="FlowTrainer"/>. Defaults suit the compact RealNVP on a CPU.</summary>
public sealed record TrainingOptions
{
    /// <summary>Optimisation steps (mini-batches). Default 1000. Ignored when <see cref="Epochs"/> is set.</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>
    /// When set, train for this many passes over the data instead of <see cref="Steps"/>:
    /// steps = ⌈epochs · N / batch size⌉. Default null.
    /// </summary>
    public int? Epochs { get; init; }

    /// <summary>
    /// Evaluate the mean loss on the evaluation data every this many steps (and at the end) when evaluation data is
    /// given to <see cref="FlowTrainer.Train"/>. Default 0: only at the end.
    /// </summary>
    public int EvaluationInterval { get; init; }

    /// <summary>Examples per mini-batch. Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>The optimiser. Default <see cref="OptimizerKind.Adam"/>.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>Learning rate. Default 1e-3 (Kirichenko et al. use 5e-5 for long runs).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>L2 weight decay on every parameter, applied by the optimiser. Default 0.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Gradients are clipped to this global L2 norm. Default 100, as in Kirichenko et al.</summary>
    public double MaxGradNorm { get; init; } = 100;

    /// <summary>Seeds the trainer's own generators: the dequantization noise and the shuffling (TorchSharp's global generator is never used). Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Report progress every this many steps. Default 10.</summary>
    public int ProgressInterval { get; init; } = 10;

    /// <summary>
    /// The precision of the st-networks during training. Default <see cref="ComputePrecision.Float32"/>. With
    /// <see cref="ComputePrecision.BFloat16"/> (or Auto resolving to it, see <see cref="ConditionerPrecision.Choose"/>):
    /// mixed precision. The parameters stay float32 (the master weights the optimiser updates); every call of an
    /// st-network computes with bf16 copies of its weights and activations, and the coupling arithmetic,
    /// log-determinants, loss and gradients' accumulation stay float32. FlowOod's own st-networks support it; a custom
    /// st-network must accept bf16 input.
    /// </summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Steps, nameof(Steps));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ProgressInterval, nameof(ProgressInterval));
        ArgumentOutOfRangeException.ThrowIfNegative(EvaluationInterval, nameof(EvaluationInterval));
        if (!System.Enum.IsDefined(Optimizer))
        {
            throw new ArgumentOutOfRangeException(nameof(Optimizer), Optimizer, "Unknown optimiser.");
        }

        if (!System.Enum.IsDefined(Precision))
        {
            throw new ArgumentOutOfRangeException(nameof(Precision), Precision, "Unknown compute precision.");
        }

        if (Epochs is { } epochs)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs, nameof(Epochs));
        }
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive and finite.");
        }

        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay))
        {
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must be non-negative and finite.");
        }

        if (!(MaxGradNorm > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxGradNorm), MaxGradNorm, "MaxGradNorm must be positive.");
        }
    }
}
