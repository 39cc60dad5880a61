using System.Collections.Generic;

namespace FlowOod.Gating;

/// <summary>The answer of an <see cref="OodGate"/> for one input: the classifier's prediction and the OOD verdict.</summary>
/// <remarks>Equality is by value: two decisions are equal when every field is equal, the probabilities element by element
/// (<see cref="float.Equals(float)"/>), so the decision for an input in a batch equals its single-input decision.</remarks>
/// <param name="Label">The predicted class, argmax over the classifier's C logits (the first maximum on ties), in [0, C).</param>
/// <param name="LabelName">The name of <paramref name="Label"/> in <see cref="OodGate.ClassNames"/>.</param>
/// <param name="Probabilities">softmax of the C logits, pᵢ = exp(ℓᵢ) / Σⱼ exp(ℓⱼ), as float32 (computed in float32 by
/// libtorch; a read-only list of length C).</param>
/// <param name="IsOutOfDistribution">True when the input is refused as out-of-distribution: <paramref name="PValue"/> ≤ α,
/// equivalently <paramref name="Score"/> &gt; <paramref name="Threshold"/>. When true, do not trust the label.</param>
/// <param name="Score">The OOD score of the gate's detector (higher = more out-of-distribution), in the scorer's unit
/// (nats for the feature-space scorer).</param>
/// <param name="PValue">The conformal p-value (1 + #{calibration scores ≥ score}) / (n + 1), in (0, 1].</param>
/// <param name="Threshold">The detector's threshold, in the scorer's unit: a score strictly above it is refused.</param>
public readonly record struct GateDecision(
    int Label,
    string LabelName,
    IReadOnlyList<float> Probabilities,
    bool IsOutOfDistribution,
    double Score,
    double PValue,
    double Threshold)
{
    /// <summary>Whether every field is equal, <see cref="Probabilities"/> element by element.</summary>
    /// <param name="other">The other decision.</param>
    /// <returns>Whether the decisions are equal.</returns>
    public bool Equals(GateDecision other) =>
        Label == other.Label
        && string.Equals(LabelName, other.LabelName, System.StringComparison.Ordinal)
        && IsOutOfDistribution == other.IsOutOfDistribution
        && Score.Equals(other.Score)
        && PValue.Equals(other.PValue)
        && Threshold.Equals(other.Threshold)
        && (ReferenceEquals(Probabilities, other.Probabilities)
            || (Probabilities is not null && other.Probabilities is not null && System.Linq.Enumerable.SequenceEqual(Probabilities, other.Probabilities)));

    /// <summary>A hash of the label, the verdict and the score.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => System.HashCode.Combine(Label, IsOutOfDistribution, Score);
}
