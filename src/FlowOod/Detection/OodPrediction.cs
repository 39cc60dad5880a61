namespace FlowOod.Detection;

/// <summary>The verdict of an <see cref="OodDetector"/> on one input.</summary>
/// <param name="IsOutOfDistribution">
/// True when the input is flagged out-of-distribution: <see cref="PValue"/> ≤ the detector's target false-positive rate α,
/// equivalently <see cref="Score"/> &gt; the detector's threshold.
/// </param>
/// <param name="Score">The scorer's score (higher = more out-of-distribution), in the scorer's unit.</param>
/// <param name="PValue">
/// The empirical (conformal) p-value (1 + #{calibration scores ≥ score}) / (n + 1), in (0, 1]: small = unusually high
/// score for in-distribution data.
/// </param>
public readonly record struct OodPrediction(bool IsOutOfDistribution, double Score, double PValue);
