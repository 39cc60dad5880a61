namespace FlowOod.OnnxRuntime;

/// <summary>How <see cref="OnnxGate"/> reads the classifier's ONNX model.</summary>
public sealed class OnnxGateOptions
{
    /// <summary>The classifier input that takes the batch (float32); null: the model's only input.</summary>
    public string? InputName { get; set; }

    /// <summary>The classifier output read as logits <c>[N, C]</c> (float32 or float64); null: the first output that is
    /// not the feature output.</summary>
    public string? LogitsOutputName { get; set; }

    /// <summary>The classifier value whose output is the feature vector <c>[N, ...]</c> (D values per input); null: the
    /// name stored in the exported gate (<c>flowood.feature_output</c>). An inner value of the graph (not an output) is
    /// made an output with <see cref="OnnxModels.ExposeOutput"/> at load.</summary>
    public string? FeatureOutputName { get; set; }

    /// <summary>ONNX Runtime's intra-op threads per session (default 1).</summary>
    public int IntraOpThreads { get; set; } = 1;
}
