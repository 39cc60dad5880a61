using System;
using System.Collections.Generic;
using FlowOod.Embeddings;
using FlowOod.Gating;
using FlowOod.Persistence;

namespace FlowOod.AspNetCore;

/// <summary>
/// An <see cref="EmbeddingDetector"/> behind the serving seam <see cref="IGateModel"/>: inputs are rows <c>[D]</c>, there
/// are no classes, and each answer is a <see cref="GateDecision"/> with label −1, no label name and no probabilities
/// (only the verdict, score, p-value and threshold mean something), so batching, reload, drift and health are the gate's.
/// </summary>
internal sealed class EmbeddingDetectorModel : IGateModel
{
    private static readonly float[] NoProbabilities = [];
    private readonly EmbeddingDetector detector;

    public EmbeddingDetectorModel(EmbeddingDetector detector)
    {
        this.detector = detector;
        InputShape = [detector.Dimension];
        TargetFalsePositiveRate = detector.TargetFalsePositiveRate;
        Threshold = detector.Threshold;
    }

    public IReadOnlyList<long> InputShape { get; }

    public IReadOnlyList<string> ClassNames { get; } = [];

    public double TargetFalsePositiveRate { get; }

    public double Threshold { get; }

    public GateDecision[] Classify(float[] inputs, int count)
    {
        var predictions = detector.Predict(inputs.AsSpan(0, count * detector.Dimension), count);
        var decisions = new GateDecision[count];
        for (int i = 0; i < count; i++)
        {
            var p = predictions[i];
            decisions[i] = new GateDecision(-1, string.Empty, NoProbabilities, p.IsOutOfDistribution, p.Score, p.PValue, Threshold);
        }

        return decisions;
    }

    public void Dispose() => detector.Dispose();
}

/// <summary>Loads embedding-detector files with <see cref="EmbeddingDetector.Load"/> (no code needed), with the configured α override.</summary>
internal sealed class EmbeddingDetectorModelLoader(ModelLoadOptions? loadOptions, double? targetFalsePositiveRate) : IGateModelLoader
{
    public IGateModel Load(string path)
    {
        var detector = EmbeddingDetector.Load(path, loadOptions, targetFalsePositiveRate);
        try
        {
            return new EmbeddingDetectorModel(detector);
        }
        catch
        {
            detector.Dispose();
            throw;
        }
    }
}

/// <summary>The embedding-detector service's runtime (its own <see cref="GateRuntime"/>, distinct from a gate's in the container).</summary>
internal sealed class EmbeddingRuntime(GateRuntime runtime) : IDisposable
{
    public GateRuntime Runtime { get; } = runtime;

    public void Dispose() => Runtime.Dispose();
}
