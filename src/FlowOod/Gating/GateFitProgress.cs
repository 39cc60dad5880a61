using System;
using FlowOod.Training;

namespace FlowOod.Gating;

/// <summary>The phases of <see cref="OodGate.Fit"/>, in the order they run.</summary>
public enum GateFitPhase
{
    /// <summary>Features of the training part are read from the classifier (counted in inputs).</summary>
    ExtractingFeatures,

    /// <summary>The feature-space flow is trained (counted in steps; <see cref="GateFitProgress.Training"/> has the details).</summary>
    TrainingFlow,

    /// <summary>The held-out part is scored through the gate's fixed-size chunks (counted in inputs).</summary>
    Calibrating,
}

/// <summary>A progress report of <see cref="OodGate.Fit"/>.</summary>
/// <remarks>Phases come in the order of <see cref="GateFitPhase"/>; within a phase <paramref name="Done"/> never
/// decreases, and each phase's last report has Done = <paramref name="Total"/>.</remarks>
/// <param name="Phase">What the gate is doing.</param>
/// <param name="Done">Inputs (or training steps) done in this phase, 0 … <paramref name="Total"/>.</param>
/// <param name="Total">Inputs (or training steps) of this phase.</param>
public sealed record GateFitProgress(GateFitPhase Phase, long Done, long Total)
{
    /// <summary>The trainer's report (loss, throughput, time) in <see cref="GateFitPhase.TrainingFlow"/>; null in the other phases.</summary>
    public TrainingProgress? Training { get; init; }
}

// Forwards reports of one type as reports of another, on the reporting thread.
internal sealed class MappedProgress<TIn, TOut>(IProgress<TOut> target, Func<TIn, TOut> map) : IProgress<TIn>
{
    public void Report(TIn value) => target.Report(map(value));
}
