using System;
using FlowOod.Models;
using FlowOod.Training;
using TorchSharp;

namespace FlowOod.Scoring;

/// <summary>Settings of <see cref="FeatureSpaceScorer"/>'s <c>Fit</c> methods, besides the extractor and the data.</summary>
public sealed record FeatureSpaceFitOptions
{
    /// <summary>The hyper-parameters of the <see cref="TabularRealNvp"/> flow on the features. Default <c>new TabularRealNvpOptions()</c>.</summary>
    public TabularRealNvpOptions Flow { get; init; } = new();

    /// <summary>How the flow is trained. Default <c>new TrainingOptions()</c>.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>Where the flow lives and trains; features are moved there. Default null: the CPU.</summary>
    public torch.Device? Device { get; init; }

    /// <summary>Throws when a setting is missing or out of range.</summary>
    /// <exception cref="ArgumentNullException"><see cref="Flow"/> or <see cref="Training"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value in <see cref="Flow"/> or <see cref="Training"/> is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Flow, nameof(Flow));
        ArgumentNullException.ThrowIfNull(Training, nameof(Training));
        Flow.Validate();
        Training.Validate();
    }
}
