using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The one way scorers evaluate a flow: validated input, evaluation mode, inference mode, fixed-size chunks moved to the
/// flow's device (so a CPU batch can be scored by a GPU flow without copying all of it at once), the scorer's
/// dequantization noise, results copied to managed memory. The flow's training mode is restored afterwards.
/// </summary>
internal static class FlowEvaluation
{
    /// <summary>Per-example log p(x) in nats for every example of <paramref name="batch"/>.</summary>
    /// <param name="flow">The flow.</param>
    /// <param name="batch"><c>[N, eventShape...]</c>, validated here.</param>
    /// <param name="chunkSize">Examples evaluated at once.</param>
    /// <param name="noise">The dequantization noise.</param>
    /// <exception cref="ArgumentException">The batch is invalid for the flow.</exception>
    public static double[] LogProb(NormalizingFlow flow, Tensor batch, int chunkSize, ScoringNoise noise)
    {
        flow.ValidateInput(batch);
        return LogProbUnchecked(flow, batch, chunkSize, noise);
    }

    /// <summary><see cref="LogProb"/> for a batch the caller has validated against <paramref name="flow"/> already.</summary>
    public static double[] LogProbUnchecked(NormalizingFlow flow, Tensor batch, int chunkSize, ScoringNoise noise)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        var count = batch.shape[0];
        var result = new double[count];
        var device = flow.parameters().Select(p => p.device).FirstOrDefault();
        var wasTraining = flow.training;
        flow.eval();
        var overrides = flow.modules().OfType<UniformDequantization>().Select(layer => layer.OverrideNoise(noise)).ToList();
        try
        {
            using var inference = inference_mode();
            for (long start = 0; start < count; start += chunkSize)
            {
                using var scope = NewDisposeScope();
                var length = Math.Min(chunkSize, count - start);
                var chunk = batch.narrow(0, start, length);
                if (device is not null && (chunk.device_type != device.type || chunk.device_index != device.index))
                {
                    chunk = chunk.to(device);
                }

                var logProb = flow.LogProbUnchecked(chunk);
                logProb.to_type(ScalarType.Float64).cpu().data<double>().CopyTo(result, (int)start);
            }
        }
        finally
        {
            DisposeAll(overrides);
            if (wasTraining)
            {
                flow.train();
            }
        }

        return result;
    }

    /// <summary>Throws a <see cref="InvalidOperationException"/> when a score came out NaN (never returned silently).</summary>
    public static double[] CheckFinite(double[] scores, string scorer)
    {
        for (int i = 0; i < scores.Length; i++)
        {
            if (double.IsNaN(scores[i]))
            {
                throw new InvalidOperationException(
                    $"{scorer} produced NaN for example {i}; the model's parameters may be corrupt or the input far outside its training range.");
            }
        }

        return scores;
    }

    private static void DisposeAll(List<IDisposable> disposables)
    {
        for (int i = disposables.Count - 1; i >= 0; i--)
        {
            disposables[i].Dispose();
        }
    }
}
