using System;
using System.Collections.Generic;

namespace FlowOod.OnnxRuntime;

/// <summary>How <see cref="OnnxClassifier"/> runs an ONNX model: which input and outputs, and ONNX Runtime's threads.</summary>
public sealed class OnnxClassifierOptions
{
    /// <summary>The model input that takes the batch <c>[N, ...InputShape]</c> (float32); default: the model's only input.</summary>
    public string? InputName { get; set; }

    /// <summary>The model output that gives the logits <c>[N, C]</c>; default: the model's only output, or its first when it has several.</summary>
    public string? LogitsOutputName { get; set; }

    /// <summary>
    /// A model output that gives features <c>[N, ...]</c> (one row per input, e.g. the penultimate layer), passed through
    /// the classifier's layer <see cref="OnnxClassifier.FeatureLayer"/> (<c>"features"</c>) on every forward so that
    /// <c>OodGateOptions.FeatureLayer = "features"</c> captures it; default none. ONNX Runtime returns graph outputs only:
    /// make an inner value one with <see cref="OnnxModels.ExposeOutput"/> or export the model with that output.
    /// </summary>
    public string? FeatureOutputName { get; set; }

    /// <summary>
    /// The shape of one input without the batch dimension, e.g. <c>[1, 28, 28]</c>; default: the model input's own shape.
    /// Needed when the model leaves dimensions other than the batch symbolic (every input is checked against it); must
    /// agree with every fixed dimension of the model's input.
    /// </summary>
    public IReadOnlyList<long>? InputShape { get; set; }

    /// <summary>ONNX Runtime's intra-op threads for this session (<c>SessionOptions.IntraOpNumThreads</c>); default 1, at least 1.</summary>
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>
    /// Whether ONNX Runtime's intra-op threads spin while waiting for work (<c>session.intra_op.allow_spinning</c>);
    /// default false, which keeps idle threads off the CPU next to libtorch's. Matters only with <see cref="IntraOpThreads"/> &gt; 1.
    /// </summary>
    public bool AllowSpinning { get; set; }

    internal void Validate()
    {
        if (IntraOpThreads < 1)
        {
            throw new ArgumentException($"IntraOpThreads must be at least 1 (got {IntraOpThreads}).", "options");
        }

        if (InputShape is { } shape)
        {
            for (int i = 0; i < shape.Count; i++)
            {
                if (shape[i] < 1)
                {
                    throw new ArgumentException($"InputShape [{string.Join(", ", shape)}] must have positive dimensions (dimension {i} is {shape[i]}).", "options");
                }
            }
        }

        foreach (var (name, value) in new[] { ("InputName", InputName), ("LogitsOutputName", LogitsOutputName), ("FeatureOutputName", FeatureOutputName) })
        {
            if (value is { Length: 0 })
            {
                throw new ArgumentException($"{name} must be null (the default) or a name, not empty.", "options");
            }
        }
    }
}
