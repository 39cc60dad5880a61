namespace FlowOod.OnnxRuntime;

/// <summary>The verdict on one input of a detector exported by FlowOod (the serving twin of FlowOod's <c>OodPrediction</c>).</summary>
/// <param name="IsOutOfDistribution">True when the input is flagged out-of-distribution: <see cref="PValue"/> ≤ the
/// detector's target false-positive rate α, equivalently <see cref="Score"/> &gt; the detector's threshold.</param>
/// <param name="Score">The score (higher = more out-of-distribution), in the exported scorer's unit.</param>
/// <param name="PValue">The conformal p-value (1 + #{calibration scores ≥ score}) / (n + 1), in (0, 1].</param>
public readonly record struct OnnxPrediction(bool IsOutOfDistribution, double Score, double PValue);
