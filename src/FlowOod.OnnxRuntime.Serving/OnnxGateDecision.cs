using System.Collections.Generic;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// One decision of an <see cref="OnnxGate"/> (the serving twin of FlowOod's <c>GateDecision</c>): the classifier's label
/// and probabilities, and the gate's out-of-distribution verdict.
/// </summary>
/// <param name="Label">argmax of the logits (the first on ties), in [0, C).</param>
/// <param name="LabelName">The class name of <see cref="Label"/>.</param>
/// <param name="Probabilities">softmax of the logits, C values (float32).</param>
/// <param name="IsOutOfDistribution">The verdict: <see cref="PValue"/> ≤ α, equivalently <see cref="Score"/> &gt;
/// <see cref="Threshold"/>. When true, do not trust the label.</param>
/// <param name="Score">−log p of the standardised features under the gate's flow, in nats (higher = more out-of-distribution).</param>
/// <param name="PValue">The conformal p-value (1 + #{calibration scores ≥ score}) / (n + 1), in (0, 1].</param>
/// <param name="Threshold">The gate's threshold in nats: a score strictly above it is refused.</param>
public readonly record struct OnnxGateDecision(
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
    public bool Equals(OnnxGateDecision other) =>
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
