using System;

namespace FlowOod.Training;

/// <summary>What a completed <see cref="FlowTrainer.Train"/> or <see cref="FlowTrainer.TrainWithNegatives"/> run did.</summary>
/// <param name="Steps">Steps taken.</param>
/// <param name="FinalLoss">Mean training loss over the last reporting interval, in bits/dim (nats/dim for continuous data).</param>
/// <param name="ExamplesPerSecond">Training throughput.</param>
/// <param name="Elapsed">Wall-clock training time (excluding evaluations).</param>
/// <param name="EvaluationLoss">Mean loss on the evaluation data after the last step, or null without evaluation data.</param>
public sealed record TrainingResult(int Steps, double FinalLoss, double ExamplesPerSecond, TimeSpan Elapsed, double? EvaluationLoss = null)
{
    /// <summary>
    /// Negative training only: the negatives' mean loss over the last reporting interval (same unit as
    /// <see cref="FinalLoss"/>); null for plain training.
    /// </summary>
    public double? NegativeLoss { get; init; }

    /// <summary>The precision the st-networks were trained in (<see cref="TrainingOptions.Precision"/>, resolved).</summary>
    public FlowOod.Precision.ComputePrecision Precision { get; init; } = FlowOod.Precision.ComputePrecision.Float32;
}
