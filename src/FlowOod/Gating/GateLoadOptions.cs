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

    /// <summary>Where to put the loaded flow(s). Default null: <see cref="Model"/>'s device, else the CPU.</summary>
    public torch.Device? Device { get; init; }

    /// <summary>
    /// Further options of the model file reader (catalog, size limit). Default null: <c>new ModelLoadOptions()</c>. Its
    /// <see cref="ModelLoadOptions.Catalog"/> holds the code the file cannot store: for a gate fitted with
    /// <see cref="OodGateOptions.FeatureExtractor"/>, that function again
    /// (<c>ModelCatalog.BuiltIn.WithFeatureExtractor(extractor)</c>); for a gate on a feature layer, no feature
    /// extractor (the gate supplies the layer's); for a gate over a detector of inputs (<see cref="OodGate.Create"/>),
    /// whatever its scorer needs, passed on as it is.
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
