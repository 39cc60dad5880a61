using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using Microsoft.ML.OnnxRuntime;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// A flow, scorer or detector exported by <c>FlowOod.Onnx.OnnxExport</c>, scored by ONNX Runtime without TorchSharp:
/// log-likelihoods, bits/dim, the scorer's scores and, for a detector, verdicts and p-values from the calibration stored
/// in the file's metadata.
/// </summary>
/// <remarks>
/// <para>Inputs are float32, row-major <c>[N, eventShape...]</c> flattened into one array of N·D values. Scores are
/// computed from the graph's log_likelihood output in double precision with the formulas of FlowOod's scorers, so a
/// detector gives FlowOod's verdicts. Any number of threads may score at once (ONNX Runtime's <c>Run</c> is
/// thread-safe); dispose only when no call is running.</para>
/// </remarks>
public sealed class OnnxFlowModel : IDisposable
{
    private const string Prefix = "flowood.";
    private readonly InferenceSession session;
    private readonly double[] calibration;
    private readonly int? levels;
    private int disposed;

    private OnnxFlowModel(InferenceSession session, string parameterName)
    {
        this.session = session;
        var metadata = session.ModelMetadata.CustomMetadataMap;
        string Required(string key) => metadata.TryGetValue(Prefix + key, out var value)
            ? value
            : throw new ArgumentException($"The ONNX model has no '{Prefix}{key}' metadata: it was not written by FlowOod's OnnxExport.", parameterName);
        Kind = metadata.TryGetValue(Prefix + "kind", out var kind) ? kind : "flow";
        EventShape = Required("event_shape").Split(',').Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        Dimensions = long.Parse(Required("dimensions"), CultureInfo.InvariantCulture);
        levels = metadata.TryGetValue(Prefix + "discretization_levels", out var l) ? int.Parse(l, CultureInfo.InvariantCulture) : null;
        if (metadata.TryGetValue(Prefix + "input_range", out var range))
        {
            var bounds = range.Split(',').Select(Parse).ToArray();
            InputRange = (bounds[0], bounds[1]);
        }

        ScoreUnit = metadata.TryGetValue(Prefix + "score", out var score) ? score : "bits_per_dim";
        calibration = metadata.TryGetValue(Prefix + "calibration_scores", out var scores) && scores.Length > 0
            ? scores.Split(',').Select(Parse).OrderBy(s => s).ToArray()
            : [];
        Threshold = metadata.TryGetValue(Prefix + "threshold", out var threshold) ? Parse(threshold) : null;
        TargetFalsePositiveRate = metadata.TryGetValue(Prefix + "target_false_positive_rate", out var rate) ? Parse(rate) : null;
    }

    /// <summary>"flow", "scorer" or "detector".</summary>
    public string Kind { get; }

    /// <summary>The shape of one input (without N).</summary>
    public IReadOnlyList<long> EventShape { get; }

    /// <summary>D, values per input.</summary>
    public long Dimensions { get; }

    /// <summary>The valid input range, or null for any finite value.</summary>
    public (double Min, double Max)? InputRange { get; }

    /// <summary>What <see cref="Score"/> returns: <c>"bits_per_dim"</c> or <c>"nll_nats"</c> (−log p in nats).</summary>
    public string ScoreUnit { get; }

    /// <summary>A detector's threshold (flag a score strictly above it), or null.</summary>
    public double? Threshold { get; }

    /// <summary>A detector's target false-positive rate α, or null.</summary>
    public double? TargetFalsePositiveRate { get; }

    /// <summary>A detector's calibration scores, sorted ascending (empty otherwise).</summary>
    public IReadOnlyList<double> CalibrationScores => calibration;

    /// <summary>Loads an exported ONNX file.</summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="intraOpThreads">ONNX Runtime's threads per call (default 1).</param>
    /// <returns>The model; dispose it.</returns>
    /// <exception cref="ArgumentException">ONNX Runtime cannot load the file, or it was not written by FlowOod's export.</exception>
    public static OnnxFlowModel Load(string path, int intraOpThreads = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return Open(options => new InferenceSession(path, options), intraOpThreads, nameof(path));
    }

    /// <summary>Loads an exported ONNX model from its bytes.</summary>
    /// <param name="model">The model's bytes.</param>
    /// <param name="intraOpThreads">ONNX Runtime's threads per call (default 1).</param>
    /// <returns>The model; dispose it.</returns>
    /// <exception cref="ArgumentException">ONNX Runtime cannot load the bytes, or they were not written by FlowOod's export.</exception>
    public static OnnxFlowModel Load(byte[] model, int intraOpThreads = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Open(options => new InferenceSession(model, options), intraOpThreads, nameof(model));
    }

    /// <summary>log p(x) in nats per input.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N log-likelihoods.</returns>
    /// <exception cref="ArgumentException">The length is not a positive multiple of D, or a value is NaN, infinite or outside <see cref="InputRange"/>.</exception>
    public double[] LogLikelihood(float[] inputs)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var count = Validate(inputs);
        long[] shape = [count, .. EventShape];
        using var input = OrtValue.CreateTensorValueFromMemory(inputs, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["input"], [input], ["log_likelihood"]);
        var values = results[0].GetTensorDataAsSpan<float>();
        var output = new double[count];
        for (int i = 0; i < output.Length; i++)
        {
            output[i] = values[i];
        }

        return output;
    }

    /// <summary>Bits per dimension per input, from <see cref="LogLikelihood"/> as <c>NormalizingFlow.BitsPerDim</c> computes it.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N values.</returns>
    public double[] BitsPerDim(float[] inputs) => LogLikelihood(inputs).Select(ToBitsPerDim).ToArray();

    /// <summary>The scorer's score per input (higher = more out-of-distribution), in <see cref="ScoreUnit"/>.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N scores.</returns>
    public double[] Score(float[] inputs) =>
        LogLikelihood(inputs).Select(l => ScoreUnit == "nll_nats" ? -l : ToBitsPerDim(l)).ToArray();

    /// <summary>A detector's verdicts: p-value (1 + #{calibration scores ≥ s}) / (n + 1), flagged when p ≤ α.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N predictions.</returns>
    /// <exception cref="InvalidOperationException">The model is not a detector.</exception>
    public OodPrediction[] Predict(float[] inputs)
    {
        if (TargetFalsePositiveRate is not { } alpha || calibration.Length == 0)
        {
            throw new InvalidOperationException($"This ONNX model is a {Kind}, not a detector: it has no calibration to give verdicts.");
        }

        return Score(inputs).Select(s =>
        {
            var atLeast = calibration.Length - LowerBound(s);
            var pValue = (1.0 + atLeast) / (calibration.Length + 1);
            return new OodPrediction(pValue <= alpha, s, pValue);
        }).ToArray();
    }

    /// <summary>Frees the ONNX Runtime session; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            session.Dispose();
        }
    }

    private static OnnxFlowModel Open(Func<SessionOptions, InferenceSession> open, int intraOpThreads, string parameterName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(intraOpThreads);
        InferenceSession session;
        using (var options = new SessionOptions { IntraOpNumThreads = intraOpThreads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL })
        {
            try
            {
                session = open(options);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ArgumentException($"ONNX Runtime cannot load the model: {e.Message}", parameterName, e);
            }
        }

        try
        {
            return new OnnxFlowModel(session, parameterName);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private int Validate(float[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0 || inputs.Length % Dimensions != 0)
        {
            throw new ArgumentException($"Expected N inputs of {Dimensions} values each ([N, {string.Join(", ", EventShape)}], row-major), got {inputs.Length} values.", nameof(inputs));
        }

        var (min, max) = (float.PositiveInfinity, float.NegativeInfinity);
        foreach (var value in inputs)
        {
            if (!float.IsFinite(value))
            {
                throw new ArgumentException("The inputs contain NaN or infinite values.", nameof(inputs));
            }

            (min, max) = (Math.Min(min, value), Math.Max(max, value));
        }

        if (InputRange is { } range && (min < range.Min || max > range.Max))
        {
            throw new ArgumentException($"Input values must lie in [{range.Min}, {range.Max}]; these span [{min}, {max}].", nameof(inputs));
        }

        return checked((int)(inputs.Length / Dimensions));
    }

    private double ToBitsPerDim(double logProb) => levels is { } k
        ? -(logProb - (Dimensions * Math.Log(k))) / (Dimensions * Math.Log(2))
        : -logProb / (Dimensions * Math.Log(2));

    // The index of the first calibration score ≥ s.
    private int LowerBound(double s)
    {
        int lo = 0, hi = calibration.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (calibration[mid] < s)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static double Parse(string value) => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
}
