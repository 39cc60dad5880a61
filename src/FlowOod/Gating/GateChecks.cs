using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

// The gate's checks of its caller's input, options and classifier; each fact is checked once per request path.
internal static class GateChecks
{
    // The most input entries a chunk may hold (1 GiB of float32): ChunkSize × entries of one input.
    private const long MaxChunkEntries = 1L << 28;

    internal static void CheckClassNames(IReadOnlyList<string>? names, int? classCount, string parameterName)
    {
        if (names is null)
        {
            return;
        }

        if (classCount is { } c && names.Count != c)
        {
            throw new ArgumentException($"{names.Count} class names were given for a classifier with {c} classes.", parameterName);
        }

        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] is not { Length: > 0 and <= 256 })
            {
                throw new ArgumentException($"Class name #{i} is null, empty or longer than 256 characters.", parameterName);
            }
        }
    }

    /// <summary>
    /// Why inputs of <paramref name="shape"/> are too large for a gate of <paramref name="chunkSize"/> (null when they are
    /// not): at most <see cref="Components.ComponentLimits.MaxCount"/> entries per input and 2²⁸ per chunk.
    /// </summary>
    internal static string? InputSizeProblem(long[] shape, int chunkSize)
    {
        if (shape.Aggregate(1.0, (product, d) => product * d) > Components.ComponentLimits.MaxCount)
        {
            return $"has more than {Components.ComponentLimits.MaxCount} entries per input, the most a gate takes";
        }

        var chunk = Shapes.Product(shape) * chunkSize;
        return chunk > MaxChunkEntries
            ? $"with a chunk size of {chunkSize} makes chunks of {chunk} entries, more than the {MaxChunkEntries} a gate allows"
            : null;
    }

    internal static void CheckLogits(Tensor logits, long rows, int classCount)
    {
        if (logits is null || logits.Dimensions != 2 || logits.size(0) != rows || logits.size(1) != classCount)
        {
            throw new InvalidOperationException(
                $"The classifier returned {(logits is null ? "null" : Shapes.Format(logits.Sizes()))} for a chunk of {rows} inputs; expected [{rows}, {classCount}].");
        }
    }

    // A batch for Classify: [N, ...inputShape], N ≥ 1, float32, not on the meta device, finite; returns N and the batch's
    // (min, max), read once here: a scorer of inputs checks its flows' ranges against them without reading the batch again.
    internal static (long Count, InputValues Values) ValidateBatch(Tensor batch, long[] inputShape, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(batch, parameterName);
        if (!Shapes.EventMatches(batch.Sizes(), inputShape))
        {
            throw new ArgumentException(
                $"Expected a batch of shape [N, {string.Join(", ", inputShape)}], got {Shapes.Format(batch.Sizes())}"
                + (batch.Sizes().AsSpan().SequenceEqual(inputShape) ? "; use ClassifyOne for a single input." : "."),
                parameterName);
        }

        if (batch.size(0) == 0)
        {
            throw new ArgumentException("The batch is empty.", parameterName);
        }

        if (batch.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Expected float32 inputs, got {batch.dtype}; convert with .to_type(ScalarType.Float32).", parameterName);
        }

        InputChecks.RejectMetaDevice(batch, "The batch", parameterName);
        var (min, max) = InputChecks.MinMaxOnHost(batch);
        if (double.IsNaN(min) || double.IsInfinity(min) || double.IsInfinity(max))
        {
            throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
        }

        return (batch.size(0), new InputValues(min, max));
    }

    // In-distribution data for Fit: [N, ...], N ≥ 1, rank ≥ 2, float32, finite; returns the shape of one input.
    internal static long[] ValidateData(Tensor data, string parameterName)
    {
        if (data.Dimensions < 2 || data.Sizes().Skip(1).Any(d => d <= 0))
        {
            throw new ArgumentException($"Expected in-distribution inputs [N, ...InputShape], got shape {Shapes.Format(data.Sizes())}.", parameterName);
        }

        if (data.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Expected float32 inputs, got {data.dtype}.", parameterName);
        }

        InputChecks.RejectMetaDevice(data, "The in-distribution data", parameterName);
        if (data.size(0) > 0)
        {
            var (min, max) = InputChecks.MinMaxOnHost(data);
            if (double.IsNaN(min) || double.IsInfinity(min) || double.IsInfinity(max))
            {
                throw new ArgumentException("The in-distribution data contains NaN or infinite values.", parameterName);
            }
        }

        return data.Sizes()[1..];
    }

    // FlowOod never changes the mode of the caller's classifier: it must be in evaluation mode already. A classifier in
    // training mode is a state error of the caller (InvalidOperationException), never a mismatch of a gate file.
    internal static void EnsureEvaluationMode(nn.Module module)
    {
        if (ModuleModes.FirstTraining(module) is not { } training)
        {
            return;
        }

        var submodule = ReferenceEquals(training, module) ? null
            : module.named_modules().Where(m => ReferenceEquals(m.module, training)).Select(m => m.name).FirstOrDefault();
        throw new InvalidOperationException(
            "The classifier is in training mode" + (submodule is null ? string.Empty : $" (its submodule '{submodule}' is)")
            + "; call .eval() on it first (the gate never changes the mode of your module, and in training mode "
            + "dropout and BatchNorm would make predictions and features random and race between threads).");
    }
}
