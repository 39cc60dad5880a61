using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// An ONNX model run by ONNX Runtime (CPU) as a TorchSharp classifier <c>[N, ...InputShape]</c> float32 → logits
/// <c>[N, C]</c>, so that <c>OodGate.Fit/Create/Load</c> and FlowOod.AspNetCore's <c>ClassifierFactory</c> take it
/// like any <see cref="nn.Module{T, TResult}"/>.
/// </summary>
/// <remarks>
/// <para><b>Features for the gate.</b> When <see cref="OnnxClassifierOptions.FeatureOutputName"/> names a model output,
/// every forward passes that output (as a new tensor <c>[N, ...]</c>) through the submodule <see cref="FeatureLayer"/>
/// (<c>"features"</c>, an identity) with <c>call</c>, so <c>OodGateOptions.FeatureLayer = "features"</c> fits the gate on
/// those features. ONNX Runtime returns graph outputs only: expose an inner value (e.g. the penultimate layer) with
/// <see cref="OnnxModels.ExposeOutput"/> or export the model with it as an output. Without a feature output the module
/// has no submodule, and only gates over inputs (<c>OodGate.Create</c>) or a <c>FeatureExtractor</c> apply.</para>
/// <para><b>Fingerprint.</b> The module has no parameters and one buffer, <c>onnx_sha256</c> (uint8 <c>[32]</c>, the
/// SHA-256 of the model bytes), so <c>ClassifierFingerprint.Of</c> tells ONNX models apart and <c>OodGate.Load</c>
/// refuses (<c>GateMismatchException</c>) a gate fitted with another model. The choice of outputs is not part of it.
/// External data files of a model loaded from a path are not hashed.</para>
/// <para><b>Threads and state.</b> <see cref="Load(string, OnnxClassifierOptions?)"/> returns the module in evaluation
/// mode. A forward copies the input to ONNX Runtime, runs the session (thread-safe) and copies the outputs to new
/// tensors; no state is shared between calls, so threads may call it concurrently. Inputs must be float32 on the CPU
/// (moving the module with <c>to(device)</c> moves only its buffer). Training mode changes nothing: ONNX Runtime only infers.</para>
/// <para><b>Ownership.</b> The module owns its <c>InferenceSession</c> (native memory); disposing the module disposes
/// it. A forward's tensors belong to the caller (its dispose scope, if any).</para>
/// </remarks>
public sealed class OnnxClassifier : nn.Module<Tensor, Tensor>
{
    /// <summary>The name of the submodule that sees the feature output: <c>"features"</c>; use it as <c>OodGateOptions.FeatureLayer</c>.</summary>
    public const string FeatureLayer = "features";

    /// <summary>The name of the buffer holding the SHA-256 of the model bytes (uint8 <c>[32]</c>).</summary>
    public const string FingerprintBuffer = "onnx_sha256";

    // The parameter named by ArgumentExceptions about the options (and the model they are checked against).
    private static readonly string OptionsParameter = "options";

    private readonly InferenceSession session;
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly long[] inputShape;
    private readonly bool batchOfOne;
    private readonly FeaturePassThrough? features;

    private OnnxClassifier(InferenceSession session, byte[] sha256, OnnxClassifierOptions options)
        : base(nameof(OnnxClassifier))
    {
        this.session = session;
        ModelSha256 = Convert.ToHexStringLower(sha256);
        var inputs = session.InputNames.ToArray();
        var outputs = session.OutputNames.ToArray();
        var listing = $"The model's inputs are {List(inputs)}; its outputs are {List(outputs)}.";

        InputName = options.InputName ?? (inputs.Length == 1 ? inputs[0]
            : throw new ArgumentException($"The model has {inputs.Length} inputs; name the one that takes the batch in OnnxClassifierOptions.InputName. {listing}", nameof(options)));
        if (!inputs.Contains(InputName, StringComparer.Ordinal))
        {
            throw new ArgumentException($"The model has no input '{InputName}'. {listing}", nameof(options));
        }

        LogitsOutputName = options.LogitsOutputName ?? (outputs.Length > 0 ? outputs[0] : throw new ArgumentException($"The model has no outputs. {listing}", nameof(options)));
        CheckOutput(LogitsOutputName, "LogitsOutputName", outputs, listing);
        FeatureOutputName = options.FeatureOutputName;
        if (FeatureOutputName is not null)
        {
            CheckOutput(FeatureOutputName, "FeatureOutputName", outputs, listing);
            if (FeatureOutputName == LogitsOutputName)
            {
                throw new ArgumentException($"FeatureOutputName and LogitsOutputName both name '{FeatureOutputName}'; the features must be another output. {listing}", nameof(options));
            }
        }

        var logitsRank = session.OutputMetadata[LogitsOutputName].Dimensions.Length;
        if (logitsRank is not (0 or 2))
        {
            throw new ArgumentException(
                $"The output '{LogitsOutputName}' has rank {logitsRank} ({Dims(session.OutputMetadata[LogitsOutputName])}); the logits must be [N, C]. Name the logits "
                + $"output in OnnxClassifierOptions.LogitsOutputName. {listing}",
                nameof(options));
        }

        var input = session.InputMetadata[InputName];
        if (!input.IsTensor || input.ElementDataType != TensorElementType.Float)
        {
            throw new ArgumentException($"The model input '{InputName}' must be a float32 tensor; it is {(input.IsTensor ? input.ElementDataType.ToString() : input.OnnxValueType.ToString())}. {listing}", nameof(options));
        }

        (inputShape, batchOfOne) = ResolveInputShape(input, options.InputShape);
        InputShape = Array.AsReadOnly(inputShape);
        inputNames = [InputName];
        outputNames = FeatureOutputName is null ? [LogitsOutputName] : [LogitsOutputName, FeatureOutputName];

        register_buffer(FingerprintBuffer, tensor(sha256, [sha256.Length], ScalarType.Byte));
        if (FeatureOutputName is not null)
        {
            features = new FeaturePassThrough();
            register_module(FeatureLayer, features);
        }

        eval();
    }

    /// <summary>The model input fed with the batch.</summary>
    public string InputName { get; }

    /// <summary>The model output read as logits <c>[N, C]</c>.</summary>
    public string LogitsOutputName { get; }

    /// <summary>The model output passed through <see cref="FeatureLayer"/>, or null.</summary>
    public string? FeatureOutputName { get; }

    /// <summary>The shape of one input without the batch dimension; −1 where the model leaves a dimension free (any size passes).</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>The SHA-256 of the model bytes, lowercase hex (64 characters); the buffer <see cref="FingerprintBuffer"/> holds its bytes.</summary>
    public string ModelSha256 { get; }

    /// <summary>Loads the ONNX model file <paramref name="modelPath"/> (external data files beside it are found as ONNX Runtime finds them).</summary>
    /// <param name="modelPath">The <c>.onnx</c> file.</param>
    /// <param name="options">Names and threads; default: the only input, the first output as logits, no features, 1 thread.</param>
    /// <returns>The classifier, in evaluation mode; the caller owns it (dispose it).</returns>
    /// <exception cref="ArgumentException">Bad options, a model ONNX Runtime rejects, input or output names the model
    /// lacks (the message lists its inputs and outputs), an input that is not float32, or logits that are not 2-D.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    public static OnnxClassifier Load(string modelPath, OnnxClassifierOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"No ONNX model at '{modelPath}'.", modelPath);
        }

        byte[] sha256;
        using (var stream = File.OpenRead(modelPath))
        {
            sha256 = SHA256.HashData(stream);
        }

        return Create(so => new InferenceSession(modelPath, so), sha256, options, nameof(modelPath));
    }

    /// <summary>Loads an ONNX model from its bytes (e.g. after <see cref="OnnxModels.ExposeOutput"/>).</summary>
    /// <param name="model">The bytes of the <c>.onnx</c> model; read during the call only.</param>
    /// <param name="options">Names and threads; default: the only input, the first output as logits, no features, 1 thread.</param>
    /// <returns>The classifier, in evaluation mode; the caller owns it (dispose it).</returns>
    /// <exception cref="ArgumentException">Bad options, a model ONNX Runtime rejects, input or output names the model
    /// lacks (the message lists its inputs and outputs), an input that is not float32, or logits that are not 2-D.</exception>
    public static OnnxClassifier Load(byte[] model, OnnxClassifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Create(so => new InferenceSession(model, so), SHA256.HashData(model), options, nameof(model));
    }

    /// <summary>Runs the model on a batch.</summary>
    /// <param name="input"><c>[N, ...InputShape]</c>, N ≥ 1, float32, on the CPU.</param>
    /// <returns>The logits <c>[N, C]</c> (float32, or float64 when the model gives float64), a new tensor on the CPU.</returns>
    /// <exception cref="ArgumentException"><paramref name="input"/> has the wrong dtype, device or shape.</exception>
    /// <exception cref="InvalidOperationException">The model's logits or features are not one row per input, or not floating point.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed to run the model.</exception>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckInput(input);
        var shape = input.shape; // one read: TorchSharp builds the array through a callback from native code (~2 µs)
        var rows = shape[0];
        float[] values;
        using (var host = input.detach().contiguous())
        {
            values = host.data<float>().ToArray();
        }

        var rowLength = rows == 0 ? 0 : values.Length / rows;
        var logits = new Tensor[batchOfOne ? rows : 1];
        var featureParts = features is null ? null : new Tensor[logits.Length];
        try
        {
            for (int part = 0; part < logits.Length; part++)
            {
                var memory = batchOfOne ? values.AsMemory(checked((int)(part * rowLength)), checked((int)rowLength)) : values.AsMemory();
                var partShape = batchOfOne ? [1, .. shape[1..]] : shape;
                using var ortInput = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, partShape);
                using var runOptions = new RunOptions();
                using var results = session.Run(runOptions, inputNames, [ortInput], outputNames);
                logits[part] = ToTensor(results[0], LogitsOutputName, batchOfOne ? 1 : rows, requireMatrix: true);
                if (featureParts is not null)
                {
                    featureParts[part] = ToTensor(results[1], FeatureOutputName!, batchOfOne ? 1 : rows, requireMatrix: false);
                }
            }

            var result = Join(logits);
            if (featureParts is not null)
            {
                using var featureTensor = Join(featureParts);
                using var passed = features!.call(featureTensor);
            }

            return result;
        }
        finally
        {
            DisposeParts(logits);
            DisposeParts(featureParts);
        }
    }

    /// <summary>Disposes the ONNX Runtime session and the module's buffer.</summary>
    /// <param name="disposing">True from <c>Dispose()</c>.</param>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            session.Dispose();
        }

        base.Dispose(disposing);
    }

    private static OnnxClassifier Create(Func<SessionOptions, InferenceSession> open, byte[] sha256, OnnxClassifierOptions? options, string modelParameter)
    {
        options ??= new OnnxClassifierOptions();
        options.Validate();
        InferenceSession session;
        using (var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        })
        {
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
            try
            {
                session = open(sessionOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ArgumentException($"ONNX Runtime cannot load the model: {e.Message}", modelParameter, e);
            }
        }

        try
        {
            return new OnnxClassifier(session, sha256, options);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static (long[] Shape, bool BatchOfOne) ResolveInputShape(NodeMetadata input, IReadOnlyList<long>? given)
    {
        var dims = input.Dimensions;
        var described = Dims(input);
        if (dims.Length < 1)
        {
            throw new ArgumentException($"The model input has shape {described}; it needs a batch dimension first.", OptionsParameter);
        }

        if (dims[0] > 1)
        {
            throw new ArgumentException(
                $"The model input has shape {described}: a fixed batch of {dims[0]}. Export the model with a free batch dimension (or a batch of 1, run input by input).", OptionsParameter);
        }

        var shape = dims[1..].Select(d => d > 0 ? (long)d : -1L).ToArray();
        if (given is not null)
        {
            if (given.Count != shape.Length || given.Where((d, i) => shape[i] > 0 && shape[i] != d).Any())
            {
                throw new ArgumentException($"InputShape [{string.Join(", ", given)}] does not fit the model input's shape {described} (batch dimension first).", OptionsParameter);
            }

            shape = [.. given];
        }

        return (shape, dims[0] == 1);
    }

    private static string Dims(NodeMetadata metadata) =>
        "[" + string.Join(", ", metadata.Dimensions.Select((d, i) => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : metadata.SymbolicDimensions is { } names && i < names.Length && !string.IsNullOrEmpty(names[i]) ? names[i] : "?")) + "]";

    private static string List(string[] names) => names.Length == 0 ? "(none)" : string.Join(", ", names.Select(n => $"'{n}'"));

    private static Tensor Join(Tensor[] parts) => parts.Length == 1 ? parts[0].alias() : cat(parts, 0);

    private static void DisposeParts(Tensor[]? parts)
    {
        foreach (var part in parts ?? [])
        {
            part?.Dispose();
        }
    }

    private void CheckOutput(string name, string option, string[] outputs, string listing)
    {
        if (!outputs.Contains(name, StringComparer.Ordinal))
        {
            throw new ArgumentException($"The model has no output '{name}' ({option}). {listing} An inner value becomes an output with OnnxModels.ExposeOutput.", OptionsParameter);
        }

        var metadata = session.OutputMetadata[name];
        if (!metadata.IsTensor || metadata.ElementDataType is not (TensorElementType.Float or TensorElementType.Double))
        {
            throw new ArgumentException(
                $"The model output '{name}' ({option}) must be a float32 or float64 tensor; it is {(metadata.IsTensor ? metadata.ElementDataType.ToString() : metadata.OnnxValueType.ToString())}.",
                OptionsParameter);
        }
    }

    private void CheckInput(Tensor input)
    {
        var expected = "[N, " + string.Join(", ", inputShape.Select(d => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "*")) + "]";
        if (input.dtype != ScalarType.Float32 || input.device_type != DeviceType.CPU)
        {
            throw new ArgumentException($"The ONNX model takes float32 inputs on the CPU, {expected}; got {input.dtype} on {input.device}.", nameof(input));
        }

        var shape = input.shape;
        if (shape.Length != inputShape.Length + 1 || shape[0] < 1 || inputShape.Where((d, i) => d > 0 && shape[i + 1] != d).Any())
        {
            throw new ArgumentException($"The ONNX model takes inputs {expected} with N ≥ 1; got [{string.Join(", ", shape)}].", nameof(input));
        }
    }

    private static Tensor ToTensor(OrtValue value, string name, long rows, bool requireMatrix)
    {
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        if (shape.Length < 1 || shape[0] != rows || (requireMatrix && shape.Length != 2))
        {
            throw new InvalidOperationException(
                $"The model output '{name}' has shape [{string.Join(", ", shape)}] for a batch of {rows}; "
                + (requireMatrix ? $"logits must be [{rows}, C] (2-D, one row per input)." : $"features must be [{rows}, ...] (one row per input)."));
        }

        return info.ElementDataType switch
        {
            TensorElementType.Float => tensor(value.GetTensorDataAsSpan<float>().ToArray(), shape),
            TensorElementType.Double => tensor(value.GetTensorDataAsSpan<double>().ToArray(), shape),
            var other => throw new InvalidOperationException($"The model output '{name}' is {other}; expected float32 or float64."),
        };
    }
}
