using System;
using System.Collections.ObjectModel;
using System.Linq;
using System.Threading;
using FlowOod.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

// The padded, chunked inference of a gate: every batch is cut into chunks of exactly ChunkSize inputs (the last padded
// with zero inputs); one classifier forward per chunk gives the logits and, for a feature gate, the features (from the
// layer hook or the extractor), which the feature scorer scores (the padding rows only where that changes nothing: see
// FeatureSpaceScorer.ScoreChunkRows); a gate over a detector of inputs scores the chunk itself.
// Also the probes of a zero input run at construction and loading. The classifier stays the caller's; the evaluator owns
// only its layer hook.
internal sealed class GateEvaluator : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> classifier;
    private readonly long[] inputShape;
    private readonly LayerCapture? capture;
    private readonly Func<Tensor, Tensor>? extractor;

    public GateEvaluator(
        nn.Module<Tensor, Tensor> classifier, long[] inputShape, FeatureSource source, string? featureName, Func<Tensor, Tensor>? extractor, int chunkSize, Device? device)
    {
        this.classifier = classifier;
        this.inputShape = inputShape;
        this.extractor = extractor;
        Source = source;
        ChunkSize = chunkSize;
        Device = device ?? classifier.parameters().Select(p => p.device).FirstOrDefault() ?? CPU;
        GateChecks.EnsureEvaluationMode(classifier);
        SourceDescription = source switch
        {
            FeatureSource.Layer => $"The classifier layer '{featureName}'",
            FeatureSource.Extractor => $"The feature extractor '{featureName}'",
            _ => "The detector's scorer",
        };
        if (source == FeatureSource.Layer)
        {
            capture = new LayerCapture(LayerCapture.FindLayer(classifier, featureName!), featureName!);
        }
    }

    public FeatureSource Source { get; }

    public int ChunkSize { get; }

    public Device Device { get; }

    // "The classifier layer 'fc1'", "The feature extractor 'Name'" or "The detector's scorer": the subject of messages.
    public string SourceDescription { get; }

    // C, known once Probe has run.
    public int ClassCount { get; private set; }

    // What scores a chunk: the feature-space scorer of a feature gate, or the detector's scorer of a gate over inputs.
    public FeatureSpaceScorer? FeatureScorer { get; set; }

    public IOodScorer? InputScorer { get; set; }

    /// <summary>Scores, labels and probabilities of every input of a batch, in chunks of exactly ChunkSize (the last padded).</summary>
    public (double[] Scores, int[] Labels, ReadOnlyCollection<float>[] Probabilities) Run(
        Tensor batch, string parameterName, CancellationToken cancellationToken, IProgress<GateFitProgress>? progress = null)
    {
        IntraOpThreads.Adopt();
        var (count, values) = GateChecks.ValidateBatch(batch, inputShape, parameterName);
        GateChecks.EnsureEvaluationMode(classifier);
        var scores = new double[count];
        var labels = new int[count];
        var probabilities = new ReadOnlyCollection<float>[count];
        using var inference = inference_mode();
        progress?.Report(new GateFitProgress(GateFitPhase.Calibrating, 0, count));
        for (long start = 0; start < count; start += ChunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var length = (int)Math.Min(ChunkSize, count - start);
            // Every chunk is copied into a buffer of the gate's own (libtorch's allocator: aligned, contiguous), the
            // last one padded with zero inputs. The classifier's first layer reads this memory, and libtorch's CPU
            // matrix products may round the last bit differently for data that is not 16-byte aligned (a float[]
            // wrapped by torch.tensor, a view at an odd offset), so reading the caller's memory would make a decision
            // depend on where the batch lies.
            var chunk = zeros([ChunkSize, .. inputShape], ScalarType.Float32, Device);
            chunk.narrow(0, 0, length).copy_(batch.narrow(0, start, length));

            var (logits, features) = Forward(chunk);
            GateChecks.CheckLogits(logits, chunk.size(0), ClassCount);
            // The batch was checked above (shape, dtype, finite: its values read once); the features are checked (shape,
            // dtype, finite, the padding's too) and the scores for NaN once, by the feature scorer, which scores only the
            // chunk's inputs where its flow's managed path makes a row's score independent of the others, and the whole
            // chunk otherwise; a flow scorer of inputs checks only its flows' ranges (against the values read above) and
            // its scores for NaN; any other scorer's scores are checked for NaN here.
            var chunkScores = features is null
                ? ScoreInputs(chunk, values, start, length, parameterName)
                : FeatureScorer!.ScoreChunkRows(features, length, SourceDescription, parameterName);
            var logitValues = logits.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            var probabilityValues = softmax(logits.to_type(ScalarType.Float32), 1).cpu().data<float>().ToArray();
            for (int i = 0; i < length; i++)
            {
                var row = i * ClassCount;
                var label = 0;
                for (int c = 1; c < ClassCount; c++)
                {
                    if (logitValues[row + c] > logitValues[row + label])
                    {
                        label = c;
                    }
                }

                scores[start + i] = chunkScores[i];
                labels[start + i] = label;
                probabilities[start + i] = Array.AsReadOnly(probabilityValues.AsSpan(row, ClassCount).ToArray());
            }

            progress?.Report(new GateFitProgress(GateFitPhase.Calibrating, start + length, count));
        }

        return (scores, labels, probabilities);
    }

    // The features of a batch for the feature-space scorer (in training and for Detector.Predict), on the gate's device.
    public Tensor LayerFeatures(Tensor batch)
    {
        GateChecks.EnsureEvaluationMode(classifier);
        using var inference = inference_mode();
        var input = batch.device_type != Device.type || batch.device_index != Device.index ? batch.to(Device) : batch;
        return Forward(input).Features!;
    }

    // Runs one zero input: the classifier must return [1, C], C ≥ 2; a feature gate's features must be [1, D], D ≥ 2.
    // Sets ClassCount; returns (C, D), D = 0 for a gate over a detector of inputs.
    public (int Classes, int Dimension) Probe()
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var probe = zeros([1, .. inputShape], ScalarType.Float32, Device);
        Tensor logits;
        Tensor? features;
        try
        {
            (logits, features) = Forward(probe);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or InvalidOperationException))
        {
            var reason = e.Message.Split('\n', 2)[0].TrimEnd();
            throw new ArgumentException(
                $"The classifier (or the feature extractor) failed on one input of shape {Shapes.Format(inputShape)} "
                + $"(a batch {Shapes.Format(probe.Sizes())} of float32 on {Device}): {reason}",
                "classifier",
                e);
        }

        if (logits is null || logits.Dimensions != 2 || logits.size(0) != 1 || logits.size(1) < 2 || !logits.is_floating_point())
        {
            throw new ArgumentException(
                $"The classifier must return logits [N, C] with C ≥ 2 classes (floating point); for one input of shape {Shapes.Format(inputShape)} it returned "
                + (logits is null ? "null" : $"{logits.dtype} of shape {Shapes.Format(logits.Sizes())}")
                + (logits is { Dimensions: 1 } ? " (no batch dimension?)" : logits is { Dimensions: 2 } && logits.size(1) < 2 ? " (fewer than 2 classes)" : string.Empty) + ".",
                "classifier");
        }

        var classes = checked((int)logits.size(1));
        ClassCount = classes;
        if (features is null)
        {
            return (classes, 0);
        }

        if (features.Dimensions != 2 || features.size(1) < 2 || features.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException(
                $"{SourceDescription} must give at least 2 floating-point features per input; for one input it gave {features.dtype} of shape {Shapes.Format(features.Sizes())}.",
                Source == FeatureSource.Layer ? "FeatureLayer" : "FeatureExtractor");
        }

        return (classes, checked((int)features.size(1)));
    }

    // Scores one zero input with the detector's scorer of inputs (Create: the scorer must accept the gate's shape).
    public void ProbeScorer()
    {
        using var scope = NewDisposeScope();
        var probe = zeros([1, .. inputShape], ScalarType.Float32, Device);
        try
        {
            // The public path: every check of the scorer, once, so the structure the request path relies on is established.
            ScoreInputs(probe, null, 0, 0, "batch");
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"The detector's scorer ({InputScorer!.Name}) rejects inputs of the gate's shape {Shapes.Format(inputShape)}: {e.Message}", "detector", e);
        }
    }

    // A gate over a detector of inputs was created only after its scorer scored a zero input of the gate's shape (Create),
    // and scoring is deterministic: a stored scorer that no longer does is a damaged file.
    public void ProbeStoredScorer(string path)
    {
        try
        {
            ProbeScorer();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new Persistence.ModelFormatException(
                $"Model file '{path}' is invalid: its detector's scorer fails on a zero input of its input shape {Shapes.Format(inputShape)}: {e.Message}", e);
        }
    }

    /// <summary>Removes the layer hook; harmless when called again.</summary>
    public void Dispose() => capture?.Dispose();

    // One classifier forward: its logits and, for a feature gate, the features [n, D] (float32 or float64 as produced).
    private (Tensor Logits, Tensor? Features) Forward(Tensor chunk)
    {
        switch (Source)
        {
            case FeatureSource.Layer:
                var (output, layerOutput) = capture!.Run(classifier, chunk);
                return (output, Flatten(layerOutput, chunk.size(0)));
            case FeatureSource.Extractor:
                var logits = classifier.call(chunk);
                return (logits, extractor!(chunk));
            default:
                return (classifier.call(chunk), null);
        }
    }

    private Tensor Flatten(Tensor layerOutput, long rows)
    {
        if (layerOutput.Dimensions < 1 || layerOutput.size(0) != rows)
        {
            throw new InvalidOperationException(
                $"{SourceDescription} returned shape {Shapes.Format(layerOutput.Sizes())} for a chunk of {rows} inputs; expected [{rows}, ...] (one row per input).");
        }

        return layerOutput.Dimensions == 2 ? layerOutput : layerOutput.reshape(rows, -1);
    }

    // The scores of a chunk from the detector's scorer of inputs: one per row, and no NaN among the first `length` rows
    // (the real inputs; `start` is the first one's index in the batch).
    // A flow scorer is given the values read by the gate (values null: its public Score, all checks) and checks its scores.
    private double[] ScoreInputs(Tensor chunk, InputValues? values, long start, int length, string parameterName)
    {
        var scorer = InputScorer!;
        var flowScorer = scorer as FlowScorer;
        var result = flowScorer is not null && values is { } read ? flowScorer.ScoreChecked(chunk, read, parameterName) : scorer.Score(chunk);
        if (result is null || result.Length != chunk.size(0))
        {
            throw new InvalidOperationException(
                $"{scorer.Name} returned {result?.Length ?? 0} scores for a chunk of {chunk.size(0)} inputs; expected one per input.");
        }

        if (flowScorer is not null)
        {
            return result;
        }

        CheckCounters.ScoresChecked(length);
        for (int i = 0; i < length; i++)
        {
            if (double.IsNaN(result[i]))
            {
                throw new InvalidOperationException($"{scorer.Name} returned NaN for input {start + i}.");
            }
        }

        return result;
    }
}
