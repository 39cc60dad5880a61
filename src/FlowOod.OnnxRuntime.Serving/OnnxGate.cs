using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FlowOod.OnnxRuntime.Internal;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// FlowOod's out-of-distribution gate served by ONNX Runtime alone: your classifier's ONNX model gives the logits and
/// the feature vector, the gate exported by <c>FlowOod.Onnx.OnnxExport.WriteGate</c> scores the features, and every
/// input gets the decision FlowOod's <c>OodGate</c> gives (label, probabilities, OOD score, p-value, verdict).
/// </summary>
/// <remarks>
/// <para>For inputs x <c>[N, ...InputShape]</c> (float32, flattened row-major): one classifier run gives logits ℓ(x)
/// <c>[N, C]</c> and features f(x) <c>[N, D]</c>; label = argmax ℓ, probabilities = softmax ℓ; the gate graph computes
/// log p_flow((f − μ)/σ) (the standardiser is folded into it, in float64 as FlowOod computes it), the score is its
/// negative in nats, the p-value (1 + #{calibration scores ≥ score}) / (n + 1), and the input is refused when p ≤ α.
/// Scores agree with FlowOod's within float32 rounding (different kernels); a score at the threshold can, in principle,
/// flip.</para>
/// <para>Thread-safe: both sessions' <c>Run</c> is, and the gate keeps no per-call state. Dispose when no call is running.</para>
/// </remarks>
public sealed class OnnxGate : IDisposable
{
    private readonly InferenceSession classifier;
    private readonly InferenceSession featureFlow;
    private readonly ExportMetadata metadata;
    private readonly Calibration calibration;
    private readonly long[] inputShape;
    private readonly long inputSize;
    private readonly string inputName;
    private readonly string logitsName;
    private readonly bool batchOfOne;
    private readonly string[] classNames;
    private int disposed;

    private OnnxGate(InferenceSession classifier, InferenceSession featureFlow, ExportMetadata metadata, string featureOutput, OnnxGateOptions options)
    {
        this.classifier = classifier;
        this.featureFlow = featureFlow;
        this.metadata = metadata;
        FeatureOutputName = featureOutput;
        calibration = metadata.Calibration!;
        classNames = metadata.Strings("class_names");
        inputShape = metadata.Longs(metadata.Required("input_shape"), "input_shape");
        inputSize = inputShape.Aggregate(1L, (a, b) => a * b);

        var inputs = classifier.InputMetadata;
        inputName = options.InputName ?? (inputs.Count == 1 ? inputs.Keys.First()
            : throw new ArgumentException($"The classifier has {inputs.Count} inputs ({string.Join(", ", inputs.Keys)}): name the one that takes the batch in OnnxGateOptions.InputName.", nameof(options)));
        if (!inputs.TryGetValue(inputName, out var input))
        {
            throw new ArgumentException($"The classifier has no input '{inputName}'; its inputs are {string.Join(", ", inputs.Keys)}.", nameof(options));
        }

        if (input.ElementDataType != TensorElementType.Float)
        {
            throw new ArgumentException($"The classifier input '{inputName}' is {input.ElementDataType}; the gate feeds float32.", nameof(options));
        }

        var dims = input.Dimensions;
        if (dims.Length != inputShape.Length + 1 || dims.Skip(1).Zip(inputShape, (d, s) => d > 0 && d != s).Any(b => b))
        {
            throw new ArgumentException(
                $"The classifier input '{inputName}' is [{string.Join(", ", dims)}]; the gate was fitted on inputs [N, {string.Join(", ", inputShape)}].", nameof(options));
        }

        batchOfOne = dims[0] == 1;
        var outputs = classifier.OutputMetadata.Keys.ToList();
        logitsName = options.LogitsOutputName ?? outputs.FirstOrDefault(o => o != featureOutput)
            ?? throw new ArgumentException("The classifier has no output besides the feature output.", nameof(options));
        if (!outputs.Contains(logitsName))
        {
            throw new ArgumentException($"The classifier has no output '{logitsName}'; its outputs are {string.Join(", ", outputs)}.", nameof(options));
        }
    }

    /// <summary>The shape of one input, e.g. <c>[1, 28, 28]</c>; a batch is <c>[N, ...InputShape]</c> flattened.</summary>
    public IReadOnlyList<long> InputShape => Array.AsReadOnly(inputShape);

    /// <summary>C, the number of classes.</summary>
    public int ClassCount => classNames.Length;

    /// <summary>The C class names in logit order.</summary>
    public IReadOnlyList<string> ClassNames => Array.AsReadOnly(classNames);

    /// <summary>D, the number of features per input.</summary>
    public long FeatureDimension => metadata.Dimensions;

    /// <summary>The classifier output read as the feature vector.</summary>
    public string FeatureOutputName { get; }

    /// <summary>The gate's threshold in nats: a score strictly above it is refused.</summary>
    public double Threshold => calibration.Threshold;

    /// <summary>α, the target false-positive rate.</summary>
    public double TargetFalsePositiveRate => calibration.Alpha;

    /// <summary>Loads a classifier's ONNX model and an exported gate from files.</summary>
    /// <param name="classifierPath">The classifier's ONNX model (logits and a feature output or inner value).</param>
    /// <param name="gatePath">The gate exported by <c>OnnxExport.WriteGate</c>.</param>
    /// <param name="options">Input, logits and feature names, threads (null: defaults).</param>
    /// <returns>The gate; dispose it.</returns>
    /// <exception cref="ArgumentException">A file cannot be loaded, the gate file is not an exported gate, or the
    /// classifier does not fit it (names, dtype, input shape); the message says which.</exception>
    public static OnnxGate Load(string classifierPath, string gatePath, OnnxGateOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(classifierPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(gatePath);
        return Load(File.ReadAllBytes(classifierPath), File.ReadAllBytes(gatePath), options);
    }

    /// <summary>Loads a classifier's ONNX model and an exported gate from their bytes.</summary>
    /// <param name="classifierModel">The classifier's ONNX model bytes.</param>
    /// <param name="gateModel">The exported gate's bytes.</param>
    /// <param name="options">Input, logits and feature names, threads (null: defaults).</param>
    /// <returns>The gate; dispose it.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Load(string, string, OnnxGateOptions?)"/>.</exception>
    public static OnnxGate Load(byte[] classifierModel, byte[] gateModel, OnnxGateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifierModel);
        ArgumentNullException.ThrowIfNull(gateModel);
        options ??= new OnnxGateOptions();
        var flow = Sessions.Open(o => new InferenceSession(gateModel, o), options.IntraOpThreads, nameof(gateModel));
        InferenceSession? session = null;
        try
        {
            var metadata = new ExportMetadata(flow.ModelMetadata.CustomMetadataMap, nameof(gateModel));
            if (metadata.Kind != "gate")
            {
                throw new ArgumentException($"The ONNX model is an exported {metadata.Kind}, not a gate (OnnxExport.WriteGate): load it with OnnxFlowModel.", nameof(gateModel));
            }

            if (metadata.Calibration is null)
            {
                throw new ArgumentException("The exported gate has no calibration metadata (flowood.calibration_scores, flowood.target_false_positive_rate).", nameof(gateModel));
            }

            var featureOutput = options.FeatureOutputName ?? metadata.Required("feature_output");
            if (!OnnxModels.GraphOutputs(classifierModel).Contains(featureOutput))
            {
                try
                {
                    classifierModel = OnnxModels.ExposeOutput(classifierModel, featureOutput);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"The classifier has no feature output '{featureOutput}': {e.Message}", nameof(classifierModel), e);
                }
            }

            var model = classifierModel;
            session = Sessions.Open(o => new InferenceSession(model, o), options.IntraOpThreads, nameof(classifierModel));
            return new OnnxGate(session, flow, metadata, featureOutput, options);
        }
        catch
        {
            session?.Dispose();
            flow.Dispose();
            throw;
        }
    }

    /// <summary>Classifies a batch and gives one OOD verdict per input.</summary>
    /// <param name="inputs">N inputs of shape <see cref="InputShape"/>, N·∏InputShape float32 values, row-major, finite.</param>
    /// <returns>N decisions in batch order.</returns>
    /// <exception cref="ArgumentException">The length is not a positive multiple of one input's size, a value is NaN or
    /// infinite, or the classifier's features are NaN, infinite or far outside the in-distribution range.</exception>
    /// <exception cref="InvalidOperationException">The classifier returned outputs of the wrong shape or type.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public OnnxGateDecision[] Classify(float[] inputs)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var count = Validate(inputs);
        var logits = new double[count * ClassCount];
        var features = new float[count * FeatureDimension];
        if (batchOfOne)
        {
            for (int i = 0; i < count; i++)
            {
                RunClassifier(inputs.AsMemory((int)(i * inputSize), (int)inputSize), 1, logits.AsSpan(i * ClassCount, ClassCount), features.AsSpan((int)(i * FeatureDimension), (int)FeatureDimension));
            }
        }
        else
        {
            RunClassifier(inputs, count, logits, features);
        }

        var outOfRange = metadata.OutOfRangeRows(features, count, nameof(inputs));
        if (outOfRange is not null)
        {
            for (int r = 0; r < count; r++)
            {
                for (int j = 0; outOfRange[r] && j < FeatureDimension; j++)
                {
                    features[(r * FeatureDimension) + j] = (float)metadata.FeatureMean![j];
                }
            }
        }

        var logLikelihood = Sessions.LogLikelihood(featureFlow, features, [count, FeatureDimension]);
        var decisions = new OnnxGateDecision[count];
        for (int i = 0; i < count; i++)
        {
            var score = outOfRange?[i] == true ? double.PositiveInfinity : -logLikelihood[i];
            var prediction = calibration.Predict(score);
            var (label, probabilities) = Softmax(logits.AsSpan(i * ClassCount, ClassCount));
            decisions[i] = new OnnxGateDecision(label, classNames[label], probabilities, prediction.IsOutOfDistribution, prediction.Score, prediction.PValue, Threshold);
        }

        return decisions;
    }

    /// <summary>Classifies one input (<see cref="Classify"/> of a batch of one).</summary>
    /// <param name="input">One input, ∏InputShape float32 values.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException">Wrong length, NaN or infinite values (as for <see cref="Classify"/>).</exception>
    public OnnxGateDecision ClassifyOne(float[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length != inputSize)
        {
            throw new ArgumentException($"Expected one input of {inputSize} values ([{string.Join(", ", inputShape)}]), got {input.Length}; use Classify for a batch.", nameof(input));
        }

        return Classify(input)[0];
    }

    /// <summary>Frees both ONNX Runtime sessions; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            classifier.Dispose();
            featureFlow.Dispose();
        }
    }

    private static (int Label, float[] Probabilities) Softmax(ReadOnlySpan<double> logits)
    {
        var label = 0;
        for (int c = 1; c < logits.Length; c++)
        {
            if (logits[c] > logits[label])
            {
                label = c;
            }
        }

        var sum = 0.0;
        var probabilities = new float[logits.Length];
        for (int c = 0; c < logits.Length; c++)
        {
            sum += Math.Exp(logits[c] - logits[label]);
        }

        for (int c = 0; c < logits.Length; c++)
        {
            probabilities[c] = (float)(Math.Exp(logits[c] - logits[label]) / sum);
        }

        return (label, probabilities);
    }

    private void RunClassifier(Memory<float> inputs, int count, Span<double> logits, Span<float> features)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, inputs, [count, .. inputShape]);
        using var runOptions = new RunOptions();
        using var results = classifier.Run(runOptions, [inputName], [input], [logitsName, FeatureOutputName]);
        var logitsShape = results[0].GetTensorTypeAndShape();
        if (logitsShape.Shape is not [var n, var c] || n != count || c != ClassCount)
        {
            throw new InvalidOperationException(
                $"The classifier's logits '{logitsName}' are [{string.Join(", ", logitsShape.Shape)}] for {count} inputs; the gate expects [{count}, {ClassCount}].");
        }

        Copy(results[0], logitsName, logits);
        var featureShape = results[1].GetTensorTypeAndShape();
        if (featureShape.Shape.Length < 1 || featureShape.Shape[0] != count || featureShape.ElementCount != count * FeatureDimension)
        {
            throw new InvalidOperationException(
                $"The classifier's feature output '{FeatureOutputName}' is [{string.Join(", ", featureShape.Shape)}] for {count} inputs; the gate expects {FeatureDimension} features per input.");
        }

        Span<double> wide = count * FeatureDimension <= 4096 ? stackalloc double[(int)(count * FeatureDimension)] : new double[count * FeatureDimension];
        Copy(results[1], FeatureOutputName, wide);
        for (int k = 0; k < wide.Length; k++)
        {
            if (!double.IsFinite(wide[k]))
            {
                throw new ArgumentException(
                    $"The classifier's feature output '{FeatureOutputName}' is NaN or infinite for input {k / FeatureDimension} of the batch.", nameof(inputs));
            }

            features[k] = (float)wide[k];
        }
    }

    private static void Copy(OrtValue value, string name, Span<double> destination)
    {
        switch (value.GetTensorTypeAndShape().ElementDataType)
        {
            case TensorElementType.Float:
                var floats = value.GetTensorDataAsSpan<float>();
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = floats[i];
                }

                break;
            case TensorElementType.Double:
                value.GetTensorDataAsSpan<double>().CopyTo(destination);
                break;
            default:
                throw new InvalidOperationException($"The classifier's output '{name}' is {value.GetTensorTypeAndShape().ElementDataType}; expected float32 or float64.");
        }
    }

    private int Validate(float[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0 || inputs.Length % inputSize != 0)
        {
            throw new ArgumentException($"Expected N inputs of {inputSize} values each ([N, {string.Join(", ", inputShape)}], row-major), got {inputs.Length} values.", nameof(inputs));
        }

        for (int i = 0; i < inputs.Length; i++)
        {
            if (!float.IsFinite(inputs[i]))
            {
                throw new ArgumentException($"The inputs contain NaN or infinite values (input {i / inputSize}).", nameof(inputs));
            }
        }

        return checked((int)(inputs.Length / inputSize));
    }
}
