namespace FlowOod.Gating;

/// <summary>Where a gate's detector gets its input from.</summary>
internal enum FeatureSource
{
    /// <summary>The output of a named classifier layer, read with a forward hook during the gate's classifier call.</summary>
    Layer,

    /// <summary>A user function of the classifier's input.</summary>
    Extractor,

    /// <summary>The classifier's input itself (a pixel scorer, <see cref="OodGate.Create"/>).</summary>
    Input,
}
