using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

// The feature-space scorer's checks: of the batch, of what the extractor returns, of the standardised features' range,
// and of the extractor module's mode.
public sealed partial class FeatureSpaceScorer
{
    // Runs the extractor on one chunk and validates what it returns; exceptions other than cancellation and
    // out-of-memory are reported as an argument error naming the extractor and the chunk.
    private static Tensor Extract(Func<Tensor, Tensor> extractor, string extractorName, Tensor chunk, int? dimension, string parameterName)
    {
        Tensor? features;
        try
        {
            features = extractor(chunk);
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            // LibTorch messages carry a native stack trace after the first line; the inner exception keeps all of it.
            var reason = e.Message.Split('\n', 2)[0].TrimEnd();
            throw new ArgumentException(
                $"The feature extractor '{extractorName}' failed on a chunk of shape {Shapes.Format(chunk.Sizes())} ({chunk.dtype}); "
                + $"check that the batch has the shape and dtype it expects. {reason}",
                parameterName,
                e);
        }

        ValidateFeatures(features, $"The feature extractor '{extractorName}'", chunk.size(0), dimension, parameterName, chunk.Sizes());
        return features;
    }

    // Checks features: not null, [rows, D] (D = dimension when known), float32 or float64, not on the meta device, finite.
    private static void ValidateFeatures(Tensor? features, string source, long rows, int? dimension, string parameterName, long[]? chunkShape = null)
    {
        ValidateFeatureLayout(features, source, rows, dimension, parameterName, chunkShape);
        using (var scope = NewDisposeScope())
        {
            CheckCounters.ValueRead();
            if (!isfinite(features).all().item<bool>())
            {
                throw NonFiniteFeatures(source, chunkShape, parameterName);
            }
        }
    }

    // ValidateFeatures without reading the values: not null, [rows, D], float32 or float64, not on the meta device.
    private static void ValidateFeatureLayout([System.Diagnostics.CodeAnalysis.NotNull] Tensor? features, string source, long rows, int? dimension, string parameterName, long[]? chunkShape = null)
    {
        var expected = $"[{rows}, {(dimension is { } d ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "D")}]";
        if (features is null)
        {
            throw new ArgumentException($"{source} returned null; expected features of shape {expected}.", parameterName);
        }

        var shape = features.Sizes();
        if (shape.Length != 2 || shape[0] != rows || (dimension is { } dim && shape[1] != dim))
        {
            throw new ArgumentException(
                $"{source} returned shape {Shapes.Format(shape)}{For(chunkShape)}; expected features of shape {expected}.",
                parameterName);
        }

        if (features.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException(
                $"{source} returned {features.dtype} features; expected float32 or float64.", parameterName);
        }

        InputChecks.RejectMetaDevice(features, $"What {source[0..1].ToLowerInvariant()}{source[1..]} returned", parameterName);
    }

    // Standardised features within ±MaxStandardizedFeature (one host sync); NaN or ±∞ after the conversion back to the
    // features' dtype fails the same test. Beyond it (slow path, on the host): an entry whose feature is no larger than
    // twice its stored mean, |xⱼ| ≤ 2|μⱼ|, is out of range because of the fitted statistics (μⱼ far from the data in units
    // of σⱼ: a feature constant in training, or a damaged file), not because of the input's scale; such a row gets the
    // score +∞ (zero density) and is replaced by zeros for the flow. Any other entry out of range is the input's fault.
    private (Tensor Standardized, bool[]? OutOfRange) CheckStandardized(Tensor features, Tensor standardized, string parameterName)
    {
        var (min, max) = InputChecks.MinMaxOnHost(standardized);
        var extreme = Math.Max(Math.Abs(min), Math.Abs(max));
        if (extreme <= MaxStandardizedFeature)
        {
            return (standardized, null);
        }

        var z = standardized.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var x = features.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var outOfRange = OutOfRangeRows(z, x, extreme, parameterName);
        return (tensor(z, standardized.Sizes(), ScalarType.Float64).to(standardized.dtype, standardized.device), outOfRange);
    }

    // The slow path of the range check (see CheckStandardized), on the host: z the standardised rows [N, D] row-major, x
    // the features, extreme = max |z|. Marks the rows out of range because of the stored mean and zeroes them in z;
    // throws when an entry is out of range because of the input.
    private bool[] OutOfRangeRows(double[] z, double[] x, double extreme, string parameterName)
    {
        var d = FeatureDimension;
        var rows = z.Length / d;
        var outOfRange = new bool[rows];
        var inputAtFault = false;
        for (int r = 0; r < rows && !inputAtFault; r++)
        {
            for (int j = 0; j < d; j++)
            {
                var k = (r * d) + j;
                if (!(Math.Abs(z[k]) <= MaxStandardizedFeature))
                {
                    if (Math.Abs(x[k]) <= 2 * Math.Abs(Standardizer.Mean[j]))
                    {
                        outOfRange[r] = true;
                    }
                    else
                    {
                        inputAtFault = true;
                        break;
                    }
                }
            }

            if (outOfRange[r])
            {
                Array.Clear(z, r * d, d);
            }
        }

        if (!inputAtFault)
        {
            return outOfRange;
        }

        var culture = System.Globalization.CultureInfo.InvariantCulture;
        throw new ArgumentException(
            $"The batch's features lie up to {extreme.ToString("G3", culture)} standard deviations from the in-distribution mean; "
            + $"the feature-space flow scores features within ±{MaxStandardizedFeature.ToString("G3", culture)} (beyond that its arithmetic "
            + "overflows). The input is far outside the range of the data the scorer was fitted on (e.g. not scaled like it).",
            parameterName);
    }

    private static ArgumentException NonFiniteFeatures(string source, long[]? chunkShape, string parameterName) =>
        new($"{source} returned NaN or infinite features{For(chunkShape)}.", parameterName);

    // The dtype and device of the flow's parameters (one walk over them), float32 on the CPU for a flow without any.
    private (ScalarType Dtype, Device Device) FlowStorage()
    {
        var first = Flow.parameters().FirstOrDefault();
        return (first?.dtype ?? ScalarType.Float32, first?.device ?? CPU);
    }

    private static string For(long[]? chunkShape) => chunkShape is null ? string.Empty : $" for a chunk of shape {Shapes.Format(chunkShape)}";

    private static long ValidateBatch(Tensor batch, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(batch, parameterName);
        if (batch.Dimensions == 0)
        {
            throw new ArgumentException("Expected a batch [N, ...], got a scalar tensor.", parameterName);
        }

        if (batch.size(0) == 0)
        {
            throw new ArgumentException("The batch is empty.", parameterName);
        }

        InputChecks.RejectMetaDevice(batch, "The batch", parameterName);
        if (batch.is_floating_point())
        {
            using var scope = NewDisposeScope();
            CheckCounters.ValueRead();
            if (!isfinite(batch).all().item<bool>())
            {
                throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
            }
        }

        return batch.size(0);
    }

    private static string DescribeDelegate(Func<Tensor, Tensor>? extractor) =>
        extractor is null ? "null" : $"{extractor.Method.DeclaringType?.Name}.{extractor.Method.Name}";

    // The module's name, or its type's name when it has none of its own (LibTorch modules report e.g. "torch::nn::SequentialImpl").
    private static string DescribeModule(nn.Module<Tensor, Tensor>? module)
    {
        if (module is null)
        {
            return "null";
        }

        var name = module.GetName();
        return string.IsNullOrEmpty(name) || name.Contains("::", StringComparison.Ordinal) ? module.GetType().Name : name;
    }

    // FlowOod never changes the mode of the caller's module: it must be in evaluation mode already.
    private static void EnsureEvaluationMode(nn.Module? module, string extractorName)
    {
        if (module is not null && !ModuleModes.AreEvaluating(module))
        {
            throw new InvalidOperationException(
                $"The feature extractor '{extractorName}' is in training mode; call .eval() on it first (FlowOod never changes the mode of your module, "
                + "and in training mode dropout and BatchNorm would make features random and race between threads).");
        }
    }
}
