using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace FlowOod.OnnxRuntime.Internal;

// The metadata_props FlowOod's OnnxExport writes (keys "flowood.*"), parsed once at load. The key names and formats are
// FlowOod's (src/FlowOod/Onnx/OnnxExport*.cs); this package reads them without referencing FlowOod.
internal sealed class ExportMetadata
{
    public const string InputName = "input";
    public const string LogLikelihoodOutput = "log_likelihood";
    public const string ScoreOutput = "score";
    public const string Prefix = "flowood.";

    private readonly IReadOnlyDictionary<string, string> map;
    private readonly string parameterName;

    public ExportMetadata(IReadOnlyDictionary<string, string> map, string parameterName)
    {
        this.map = map;
        this.parameterName = parameterName;
        Kind = Optional("kind") ?? "flow";
        EventShape = Longs(Required("event_shape"), "event_shape");
        Dimensions = Longs(Required("dimensions"), "dimensions")[0];
        if (EventShape.Length == 0 || EventShape.Any(d => d <= 0) || EventShape.Aggregate(1L, (a, b) => a * b) != Dimensions)
        {
            throw Invalid("event_shape", "does not match flowood.dimensions");
        }

        Levels = Optional("discretization_levels") is { } levels ? checked((int)Longs(levels, "discretization_levels")[0]) : null;
        if (Optional("input_range") is { } range)
        {
            var bounds = Doubles(range, "input_range");
            InputRange = bounds.Length == 2 ? (bounds[0], bounds[1]) : throw Invalid("input_range", "is not 'min,max'");
        }

        ScoreUnit = Optional("score") ?? "bits_per_dim";
        if (ScoreUnit is not ("bits_per_dim" or "nll_nats" or ScoreOutput))
        {
            throw Invalid("score", $"is '{ScoreUnit}', expected 'bits_per_dim', 'nll_nats' or '{ScoreOutput}'");
        }

        ScorerName = Optional("scorer");

        if (Optional("target_false_positive_rate") is { } alpha && Optional("calibration_scores") is { Length: > 0 } scores)
        {
            var sorted = Doubles(scores, "calibration_scores");
            Array.Sort(sorted);
            Calibration = new Calibration(sorted, Double(alpha, "target_false_positive_rate"), Double(Required("threshold"), "threshold"));
        }

        if (Optional("feature_mean") is { } mean)
        {
            FeatureMean = Doubles(mean, "feature_mean");
            FeatureStd = Doubles(Required("feature_std"), "feature_std");
            if (FeatureMean.Length != Dimensions || FeatureStd.Length != Dimensions)
            {
                throw Invalid("feature_mean", $"must hold {Dimensions} values, as must flowood.feature_std");
            }

            MaxStandardized = Optional("max_standardized_feature") is { } max ? Double(max, "max_standardized_feature") : 1e6;
        }
    }

    public string Kind { get; }

    public long[] EventShape { get; }

    public long Dimensions { get; }

    public int? Levels { get; }

    public (double Min, double Max)? InputRange { get; }

    public string ScoreUnit { get; }

    // The exported scorer's name (flowood.scorer), or null in files written before it was recorded.
    public string? ScorerName { get; }

    // Whether the graph computes the score itself (output "score", float64) rather than the runtime from log p.
    public bool GraphScores => ScoreUnit == ScoreOutput;

    public Calibration? Calibration { get; }

    // The standardiser of a feature-space graph (input = raw features); null otherwise.
    public double[]? FeatureMean { get; }

    public double[]? FeatureStd { get; }

    public double MaxStandardized { get; }

    public string? Optional(string key) => map.TryGetValue(Prefix + key, out var value) ? value : null;

    public string Required(string key) => Optional(key)
        ?? throw new ArgumentException($"The ONNX model has no '{Prefix}{key}' metadata: it was not written by FlowOod's OnnxExport (or not as this kind).", parameterName);

    public string[] Strings(string key)
    {
        try
        {
            return JsonSerializer.Deserialize<string[]>(Required(key)) ?? throw Invalid(key, "is null");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The ONNX model's metadata '{Prefix}{key}' is not a JSON array of strings: {e.Message}", parameterName, e);
        }
    }

    public long[] Longs(string value, string key)
    {
        try
        {
            return value.Split(',').Select(v => Long(v, key)).ToArray();
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"The ONNX model's metadata is damaged: {e.Message}", parameterName, e);
        }
    }

    // Score from log p: bits/dim as NormalizingFlow.BitsPerDim (with the discretization correction), or −log p in nats.
    public double Score(double logLikelihood) => ScoreUnit == "nll_nats" ? -logLikelihood : BitsPerDim(logLikelihood);

    public double BitsPerDim(double logLikelihood) => Levels is { } k
        ? -(logLikelihood - (Dimensions * Math.Log(k))) / (Dimensions * Math.Log(2))
        : -logLikelihood / (Dimensions * Math.Log(2));

    // A feature-space graph: the rows whose standardised features (x − μ)/σ (float32, as FlowOod computes them) leave
    // ±MaxStandardized score +∞ when the stored mean put them there (|x| ≤ 2|μ|); any other such row is the input's fault.
    public bool[]? OutOfRangeRows(float[] features, int rows, string parameter)
    {
        if (FeatureMean is not { } mean || FeatureStd is not { } std)
        {
            return null;
        }

        var d = mean.Length;
        bool[]? outOfRange = null;
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < d; j++)
            {
                double x = features[(r * d) + j];
                double z = (float)((x - mean[j]) / std[j]);
                if (!(Math.Abs(z) <= MaxStandardized))
                {
                    if (Math.Abs(x) > 2 * Math.Abs(mean[j]))
                    {
                        throw new ArgumentException(
                            string.Create(CultureInfo.InvariantCulture, $"Row {r}'s feature {j} = {x:G6} is {z:G3} standard deviations from the in-distribution mean; features must lie within ±{MaxStandardized:G3} (an input far outside the data the model was fitted on)."),
                            parameter);
                    }

                    outOfRange ??= new bool[rows];
                    outOfRange[r] = true;
                }
            }
        }

        return outOfRange;
    }

    private static long Long(string value, string key) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : throw new FormatException($"flowood.{key}: '{value}' is not an integer.");

    private static double Double(string value, string key) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? parsed : throw new FormatException($"flowood.{key}: '{value}' is not a number.");

    private double[] Doubles(string value, string key)
    {
        try
        {
            return value.Split(',').Select(v => Double(v, key)).ToArray();
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"The ONNX model's metadata is damaged: {e.Message}", parameterName, e);
        }
    }

    private ArgumentException Invalid(string key, string problem) =>
        new($"The ONNX model's metadata '{Prefix}{key}' {problem}.", parameterName);
}
