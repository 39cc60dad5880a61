using System;
using System.Collections.Generic;
using FlowOod.Scoring;
using TorchSharp;

namespace FlowOod.Gating;

/// <summary>Settings of <see cref="OodGate.Fit"/>, besides the classifier and the data.</summary>
/// <remarks>Exactly one of <see cref="FeatureLayer"/> and <see cref="FeatureExtractor"/> must be set.</remarks>
public sealed record OodGateOptions
{
    /// <summary>
    /// The name, as listed by the classifier's <c>named_modules()</c> (e.g. <c>"features.4"</c> or <c>"fc1"</c>), of the
    /// layer whose output is the feature vector, typically the penultimate layer. Its output for a batch
    /// <c>[N, ...InputShape]</c> must be <c>[N, D]</c> (D ≥ 2) or <c>[N, ...]</c>, which is flattened to <c>[N, D]</c>. It is
    /// read with a forward hook during the gate's own classifier call, so one forward gives both logits and features.
    /// TorchSharp runs forward hooks only from <c>Module.call</c>: the classifier's <c>forward</c> must invoke this layer
    /// (and the modules that contain it) with <c>.call(x)</c>, as <c>Sequential</c> does, not <c>.forward(x)</c>;
    /// otherwise the hook never fires and the gate throws <see cref="InvalidOperationException"/> saying so. Dispose
    /// scopes inside <c>forward</c> are fine: the gate's copy of the layer's output outlives them.
    /// </summary>
    public string? FeatureLayer { get; init; }

    /// <summary>
    /// A function computing features from the classifier's input instead of a layer: <c>[N, ...InputShape]</c> →
    /// <c>[N, D]</c>, float32 or float64, D ≥ 2. It must be safe to call from several threads at once. It is code, so
    /// loading a gate fitted with it needs it again, in the catalog of <see cref="GateLoadOptions.Model"/> (<c>ModelCatalog.WithFeatureExtractor</c>).
    /// </summary>
    public Func<torch.Tensor, torch.Tensor>? FeatureExtractor { get; init; }

    /// <summary>The name stored for <see cref="FeatureExtractor"/> (informational, in messages and the gate file).
    /// Default null: the delegate's method name.</summary>
    public string? FeatureExtractorName { get; init; }

    /// <summary>α, the target false-positive rate on in-distribution data, in (0, 1). Default 0.05.</summary>
    public double TargetFalsePositiveRate { get; init; } = 0.05;

    /// <summary>
    /// The fraction of the in-distribution data held out to calibrate the detector (the rest trains the feature flow), in
    /// (0, 1). Default 0.25. The held-out part must have at least ⌈1/α⌉ inputs and the training part at least 2.
    /// </summary>
    public double CalibrationFraction { get; init; } = 0.25;

    /// <summary>The feature flow's hyper-parameters, training and device. Default <c>new FeatureSpaceFitOptions()</c>.</summary>
    public FeatureSpaceFitOptions FeatureFlow { get; init; } = new();

    /// <summary>Names of the C classes, in logit order. Default null: <c>"0"</c> … <c>"C−1"</c>.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>
    /// The fixed number of inputs the classifier, the feature flow and the detector see per evaluation, 1 … 4096; default
    /// <see cref="OodGate.DefaultChunkSize"/>. Every batch is cut into chunks of exactly this size, the last one padded
    /// with zero inputs, because libtorch picks kernels by batch size and a different batch size can change the last
    /// bits of a result: with fixed-size chunks an input's decision is bit-identical whatever batch it arrives in. The
    /// cost is the padding: a single input costs one classifier forward of a whole chunk (the feature flow, when FlowOod
    /// computes it in managed code, scores only the real inputs). A chunk of 1 is the fastest for one input at a time and
    /// the slowest for large batches (see docs/performance.md). A chunk holds at most 2²⁸ input entries
    /// (<see cref="OodGate.Fit"/> checks it against the inputs' shape).
    /// </summary>
    public int ChunkSize { get; init; } = OodGate.DefaultChunkSize;

    /// <summary>
    /// The device of the classifier's parameters, to which inputs are moved. Default null: the device of the
    /// classifier's first parameter (the CPU for a classifier without parameters). The classifier itself is never moved.
    /// </summary>
    public torch.Device? Device { get; init; }

    /// <summary>Seed of the random train/calibration split (drawn from a private generator; torch's global generator is not
    /// used). Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Throws when a setting is missing or out of range.</summary>
    /// <exception cref="ArgumentException">Both or neither of <see cref="FeatureLayer"/> and <see cref="FeatureExtractor"/>
    /// are set, <see cref="FeatureLayer"/> is empty, or a class name is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><see cref="FeatureFlow"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α, the calibration fraction or the chunk size is out of range.</exception>
    public void Validate()
    {
        if ((FeatureLayer is null) == (FeatureExtractor is null))
        {
            throw new ArgumentException(
                FeatureLayer is null
                    ? "Set exactly one of OodGateOptions.FeatureLayer (the name of a classifier layer, e.g. the penultimate one) and FeatureExtractor; neither is set."
                    : "Set exactly one of OodGateOptions.FeatureLayer and FeatureExtractor; both are set.",
                nameof(FeatureLayer));
        }

        if (FeatureLayer is { Length: 0 })
        {
            throw new ArgumentException("OodGateOptions.FeatureLayer is empty; give the layer's name as listed by the classifier's named_modules().", nameof(FeatureLayer));
        }

        if (FeatureExtractorName is { Length: 0 or > 256 })
        {
            throw new ArgumentException("OodGateOptions.FeatureExtractorName must have 1 to 256 characters.", nameof(FeatureExtractorName));
        }

        if (!(TargetFalsePositiveRate > 0 && TargetFalsePositiveRate < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(TargetFalsePositiveRate), TargetFalsePositiveRate,
                $"The target false-positive rate must lie strictly between 0 and 1, got {TargetFalsePositiveRate}.");
        }

        if (!(CalibrationFraction > 0 && CalibrationFraction < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(CalibrationFraction), CalibrationFraction, $"The calibration fraction must lie strictly between 0 and 1, got {CalibrationFraction}.");
        }

        if (ChunkSize is < 1 or > OodGate.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkSize), ChunkSize, $"The chunk size must be between 1 and {OodGate.MaxChunkSize}, got {ChunkSize}.");
        }

        ArgumentNullException.ThrowIfNull(FeatureFlow, nameof(FeatureFlow));
        FeatureFlow.Validate();
        GateChecks.CheckClassNames(ClassNames, null, nameof(ClassNames));
    }
}
