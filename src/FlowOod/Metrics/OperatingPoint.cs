namespace FlowOod.Metrics;

/// <summary>
/// One point of a ROC or precision–recall curve: the detector flags an input as OOD when its score is ≥
/// <see cref="Threshold"/>. OOD is the positive class.
/// </summary>
/// <param name="Threshold">The score threshold (flag when score ≥ threshold).</param>
/// <param name="TruePositiveRate">Fraction of OOD inputs flagged (recall).</param>
/// <param name="FalsePositiveRate">Fraction of in-distribution inputs flagged.</param>
/// <param name="Precision">Fraction of flagged inputs that are OOD (1 when nothing is flagged).</param>
public sealed record OperatingPoint(double Threshold, double TruePositiveRate, double FalsePositiveRate, double Precision);
