using System;
using FlowOod.Persistence;
using TorchSharp;

namespace FlowOod.Gating;

/// <summary>Options of <see cref="OodGate.Load"/>.</summary>
public sealed record GateLoadOptions
{
    /// <summary>
    /// Overrides the stored target false-positive rate α: the threshold is recomputed from the stored calibration
    /// scores (the (k + 1)-th largest, k = ⌊α(n + 1)⌋ − 1; see <see cref="Detection.OodDetector"/>). Must be in (0, 1) and
    /// ≥ 1/n. Default null: the stored α.
    /// </summary>
    public double? TargetFalsePositiveRate { get; init; }

    /// <summary>
    /// The feature extractor, when the gate was fitted with <see cref="OodGateOptions.FeatureExtractor"/> (code is not
    /// stored in a gate file): classifier input <c>[N, ...InputShape]</c> → features <c>[N, D]</c>, D as stored. Must be
    /// null for a gate fitted on a feature layer or created over a pixel detector.
    /// </summary>
    public Func<torch.Tensor, torch.Tensor>? FeatureExtractor { get; init; }

    /// <summary>Where to put the loaded flow(s). Default null: <see cref="Model"/>'s device, else the CPU.</summary>
    public torch.Device? Device { get; init; }

    /// <summary>
    /// Further options of the model file reader (component catalog, flow factories, compressors, size limit). Default
    /// null: <c>new ModelLoadOptions()</c>. For a gate on a feature layer or extractor, its
    /// <see cref="ModelLoadOptions.FeatureExtractor"/> and <see cref="ModelLoadOptions.FeatureExtractorModule"/> must be
    /// null (the gate supplies the extractor); for a gate over a detector of inputs (<see cref="OodGate.Create"/>) they
    /// are passed on as they are, for a scorer that needs them.
    /// </summary>
    public ModelLoadOptions? Model { get; init; }

    /// <summary>Throws when a setting is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="TargetFalsePositiveRate"/> is not in (0, 1).</exception>
    public void Validate()
    {
        if (TargetFalsePositiveRate is { } rate && !(rate > 0 && rate < 1))
        {
            throw new ArgumentOutOfRangeException(
                nameof(TargetFalsePositiveRate), rate, $"The target false-positive rate must lie strictly between 0 and 1, got {rate}.");
        }
    }
}
