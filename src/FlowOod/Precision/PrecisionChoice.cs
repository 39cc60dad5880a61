namespace FlowOod.Precision;

/// <summary>What <see cref="ConditionerPrecision.Choose"/> decided and why, in a sentence fit for a log.</summary>
/// <param name="Requested">The request (possibly <see cref="ComputePrecision.Auto"/>).</param>
/// <param name="Precision">The precision used: <see cref="ComputePrecision.Float32"/> or <see cref="ComputePrecision.BFloat16"/>, never Auto.</param>
/// <param name="Reason">Why, naming the processor flag or device that decided it.</param>
public sealed record PrecisionChoice(ComputePrecision Requested, ComputePrecision Precision, string Reason);
