using System;

namespace FlowOod.Training;

/// <summary>A progress report from <see cref="FlowTrainer"/>.</summary>
/// <param name="Step">Steps completed so far.</param>
/// <param name="TotalSteps">Steps the run will take.</param>
/// <param name="Loss">Mean training loss over the last reporting interval, in bits/dim (nats/dim for continuous data).</param>
/// <param name="ExamplesPerSecond">Training throughput over the run so far.</param>
/// <param name="Elapsed">Wall-clock time since training started.</param>
/// <param name="EvaluationLoss">Mean loss on the evaluation data (same unit as <paramref name="Loss"/>) when it was
/// evaluated at this step, otherwise null.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double ExamplesPerSecond, TimeSpan Elapsed, double? EvaluationLoss = null)
{
    /// <summary>
    /// Negative training (<see cref="FlowTrainer.TrainWithNegatives"/>) only: the mean loss of the negatives drawn over
    /// the last reporting interval (same unit as <see cref="Loss"/>, every negative counted, kept or past the bound);
    /// null for plain training.
    /// </summary>
    public double? NegativeLoss { get; init; }
}
