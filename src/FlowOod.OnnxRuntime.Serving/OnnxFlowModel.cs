using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.OnnxRuntime.Internal;
using Microsoft.ML.OnnxRuntime;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// A flow, scorer or detector exported by FlowOod's <c>FlowOod.Onnx.OnnxExport</c>, scored by ONNX Runtime alone (no
/// TorchSharp, no libtorch): log-likelihoods, bits/dim, the scorer's scores and, for a detector, verdicts and p-values
/// from the calibration stored in the file's metadata — the API shapes of FlowOod's <c>OodDetector</c> on float arrays.
/// </summary>
/// <remarks>
/// <para>Inputs are float32, row-major <c>[N, eventShape...]</c> flattened into one array of N·D values: images in
/// the flow's input range, or, for a feature-space detector, raw feature vectors <c>[N, D]</c> (the file's graph
/// standardises them). A likelihood scorer's scores are computed from the graph's log_likelihood output in double
/// precision with the formulas of FlowOod's scorers; every other exported scorer (DoSE, rotation prediction, score
/// densities, …) is computed by the graph itself, in float64 after its flows and networks (<see cref="ScoreUnit"/> =
/// <c>"score"</c>). Either way a detector gives FlowOod's verdicts. Any number of threads may score at once
/// (ONNX Runtime's <c>Run</c> is thread-safe and the model keeps no per-call state); dispose only when no call is
/// running.</para>
/// </remarks>
public sealed class OnnxFlowModel : IDisposable
{
    private readonly InferenceSession session;
    private readonly ExportMetadata metadata;
    private readonly long[] eventShape;
    private int disposed;

    private OnnxFlowModel(InferenceSession session, string parameterName)
    {
        this.session = session;
        metadata = new ExportMetadata(session.ModelMetadata.CustomMetadataMap, parameterName);
        eventShape = metadata.EventShape;
        HasLogLikelihood = session.OutputMetadata.ContainsKey(ExportMetadata.LogLikelihoodOutput);
        if (metadata.GraphScores && !session.OutputMetadata.ContainsKey(ExportMetadata.ScoreOutput))
        {
            throw new ArgumentException($"The ONNX model's metadata says its graph computes the score, but the graph has no '{ExportMetadata.ScoreOutput}' output.", parameterName);
        }

        if (metadata.Kind == "gate")
        {
            throw new ArgumentException("The ONNX model is an exported gate: load it with OnnxGate.Load, together with its classifier.", parameterName);
        }
    }

    /// <summary>"flow", "scorer" or "detector".</summary>
    public string Kind => metadata.Kind;

    /// <summary>The shape of one input (without N).</summary>
    public IReadOnlyList<long> EventShape => Array.AsReadOnly(eventShape);

    /// <summary>D, values per input.</summary>
    public long Dimensions => metadata.Dimensions;

    /// <summary>The valid input range, or null for any finite value.</summary>
    public (double Min, double Max)? InputRange => metadata.InputRange;

    /// <summary>K, the number of discrete levels per value of a flow on discrete data (e.g. 256 for 8-bit pixels), or null.</summary>
    public int? DiscretizationLevels => metadata.Levels;

    /// <summary>
    /// What <see cref="Score"/> returns: <c>"bits_per_dim"</c> or <c>"nll_nats"</c> (−log p in nats), computed here from
    /// the graph's log-likelihood; or <c>"score"</c>: the exported scorer's own score (see <see cref="ScorerName"/>; e.g.
    /// the DoSE-and-rotation score density of <c>ImageDetectors.Fit</c>), computed by the graph in float64.
    /// </summary>
    public string ScoreUnit => metadata.ScoreUnit;

    /// <summary>The exported scorer's name (FlowOod's <c>IOodScorer.Name</c>), or null for a flow.</summary>
    public string? ScorerName => metadata.ScorerName;

    /// <summary>Whether <see cref="LogLikelihood"/> and <see cref="BitsPerDim"/> are available: the graph has a flow (a
    /// scorer without one, such as rotation prediction alone, has only its score).</summary>
    public bool HasLogLikelihood { get; }

    /// <summary>A detector's threshold (flag a score strictly above it), or null.</summary>
    public double? Threshold => metadata.Calibration?.Threshold;

    /// <summary>A detector's target false-positive rate α, or null.</summary>
    public double? TargetFalsePositiveRate => metadata.Calibration?.Alpha;

    /// <summary>A detector's calibration scores, sorted ascending (empty otherwise).</summary>
    public IReadOnlyList<double> CalibrationScores => Array.AsReadOnly(metadata.Calibration?.Scores ?? []);

    /// <summary>Loads an exported ONNX file.</summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="intraOpThreads">ONNX Runtime's threads per call (default 1).</param>
    /// <returns>The model; dispose it.</returns>
    /// <exception cref="ArgumentException">ONNX Runtime cannot load the file, it was not written by FlowOod's export, or
    /// it is an exported gate (<see cref="OnnxGate"/>).</exception>
    public static OnnxFlowModel Load(string path, int intraOpThreads = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return Open(Sessions.Open(options => new InferenceSession(path, options), intraOpThreads, nameof(path)), nameof(path));
    }

    /// <summary>Loads an exported ONNX model from its bytes.</summary>
    /// <param name="model">The model's bytes.</param>
    /// <param name="intraOpThreads">ONNX Runtime's threads per call (default 1).</param>
    /// <returns>The model; dispose it.</returns>
    /// <exception cref="ArgumentException">ONNX Runtime cannot load the bytes, or they were not written by FlowOod's export.</exception>
    public static OnnxFlowModel Load(byte[] model, int intraOpThreads = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Open(Sessions.Open(options => new InferenceSession(model, options), intraOpThreads, nameof(model)), nameof(model));
    }

    /// <summary>log p(x) in nats per input (for a feature-space detector, of the standardised features).</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N log-likelihoods.</returns>
    /// <exception cref="ArgumentException">The length is not a positive multiple of D, or a value is NaN, infinite or
    /// outside <see cref="InputRange"/>, or a feature lies far outside the in-distribution range.</exception>
    /// <exception cref="ObjectDisposedException">The model is disposed.</exception>
    /// <exception cref="InvalidOperationException">The graph has no flow (<see cref="HasLogLikelihood"/> is false).</exception>
    public double[] LogLikelihood(float[] inputs)
    {
        if (!HasLogLikelihood)
        {
            throw new InvalidOperationException($"This ONNX model's scorer ({ScorerName}) has no flow, so no log-likelihood: use Score or Predict.");
        }

        return Evaluate(inputs).LogLikelihood;
    }

    /// <summary>Bits per dimension per input, from <see cref="LogLikelihood"/> as <c>NormalizingFlow.BitsPerDim</c> computes it.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N values.</returns>
    /// <exception cref="ArgumentException">Bad input, as for <see cref="LogLikelihood"/>.</exception>
    public double[] BitsPerDim(float[] inputs) => LogLikelihood(inputs).Select(metadata.BitsPerDim).ToArray();

    /// <summary>The scorer's score per input (higher = more out-of-distribution), in <see cref="ScoreUnit"/>.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N scores; +∞ for a feature row the stored standardiser puts out of range (as FlowOod's feature scorer).</returns>
    /// <exception cref="ArgumentException">Bad input, as for <see cref="LogLikelihood"/>.</exception>
    public double[] Score(float[] inputs)
    {
        if (metadata.GraphScores)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
            var count = Validate(inputs);
            return Sessions.DoubleOutput(session, inputs, [count, .. eventShape], ExportMetadata.ScoreOutput);
        }

        var (logLikelihood, outOfRange) = Evaluate(inputs);
        var scores = new double[logLikelihood.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = outOfRange?[i] == true ? double.PositiveInfinity : metadata.Score(logLikelihood[i]);
        }

        return scores;
    }

    /// <summary>A detector's verdicts: p-value (1 + #{calibration scores ≥ s}) / (n + 1), flagged when p ≤ α.</summary>
    /// <param name="inputs">N inputs, N·D float32 values, row-major.</param>
    /// <returns>N predictions.</returns>
    /// <exception cref="InvalidOperationException">The model is not a detector.</exception>
    /// <exception cref="ArgumentException">Bad input, as for <see cref="LogLikelihood"/>.</exception>
    public OnnxPrediction[] Predict(float[] inputs)
    {
        var calibration = metadata.Calibration
            ?? throw new InvalidOperationException($"This ONNX model is a {Kind}, not a detector: it has no calibration to give verdicts.");
        return Score(inputs).Select(calibration.Predict).ToArray();
    }

    /// <summary>Frees the ONNX Runtime session; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            session.Dispose();
        }
    }

    private static OnnxFlowModel Open(InferenceSession session, string parameterName)
    {
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

    private (double[] LogLikelihood, bool[]? OutOfRange) Evaluate(float[] inputs)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var count = Validate(inputs);
        var outOfRange = metadata.OutOfRangeRows(inputs, count, nameof(inputs));
        var values = inputs;
        if (outOfRange is not null)
        {
            // As FlowOod: a row out of range is scored as the mean row (its score is replaced by +∞), so the graph never
            // sees values its float arithmetic would overflow on.
            values = (float[])inputs.Clone();
            var d = (int)Dimensions;
            for (int r = 0; r < count; r++)
            {
                if (outOfRange[r])
                {
                    for (int j = 0; j < d; j++)
                    {
                        values[(r * d) + j] = (float)metadata.FeatureMean![j];
                    }
                }
            }
        }

        return (Sessions.LogLikelihood(session, values, [count, .. eventShape]), outOfRange);
    }

    private int Validate(float[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0 || inputs.Length % Dimensions != 0)
        {
            throw new ArgumentException($"Expected N inputs of {Dimensions} values each ([N, {string.Join(", ", eventShape)}], row-major), got {inputs.Length} values.", nameof(inputs));
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
            throw new ArgumentException(
                $"Input values must lie in [{range.Min}, {range.Max}]"
                + (DiscretizationLevels is { } k ? $" (the flow models {k}-level discrete data scaled to that range)" : string.Empty)
                + $"; these span [{min}, {max}].",
                nameof(inputs));
        }

        return checked((int)(inputs.Length / Dimensions));
    }
}
