using System;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The one way scorers evaluate a flow: validated input, inference mode, fixed-size chunks (capped by
/// <see cref="ChunkBudget"/>) moved to the flow's device
/// (so a CPU batch can be scored by a GPU flow without copying all of it at once), the scorer's dequantization noise
/// passed as an argument to the flow's dequantization step (one source per call, spanning its chunks), results copied to managed memory.
/// </summary>
/// <remarks>
/// Nothing here writes on the flow: its modes are not toggled (a scorer puts its flows in evaluation mode once, when it
/// is built, and this refuses a flow that has been put back in training mode) and the noise travels with the call, so
/// any number of threads may evaluate the same flow at once.
/// </remarks>
internal static class FlowEvaluation
{
    /// <summary>Per-example log p(x) in nats for every example of <paramref name="batch"/>.</summary>
    /// <param name="flow">The flow, in evaluation mode.</param>
    /// <param name="batch"><c>[N, eventShape...]</c>, validated here.</param>
    /// <param name="chunkSize">Examples evaluated at once, at most (<see cref="ChunkBudget.Cap"/> may lower it).</param>
    /// <param name="noise">The dequantization noise.</param>
    /// <param name="parameterName">The name of the public method's parameter that holds the batch (named by the exceptions).</param>
    /// <exception cref="ArgumentException">The batch is invalid for the flow.</exception>
    /// <exception cref="InvalidOperationException">The flow is in training mode.</exception>
    public static double[] LogProb(NormalizingFlow flow, Tensor batch, int chunkSize, ScoringNoise noise, string parameterName)
    {
        flow.ValidateInput(batch, parameterName);
        return LogProbUnchecked(flow, batch, chunkSize, noise);
    }

    /// <summary><see cref="LogProb"/> for a batch the caller has validated against <paramref name="flow"/> already.</summary>
    public static double[] LogProbUnchecked(NormalizingFlow flow, Tensor batch, int chunkSize, ScoringNoise noise)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        EnsureEvaluationMode(flow);
        var count = batch.size(0);
        chunkSize = ChunkBudget.Cap(flow, batch, chunkSize);
        var result = new double[count];
        var device = flow.parameters().Select(p => p.device).FirstOrDefault();
        using var inference = inference_mode();
        using var source = noise.Open();
        for (long start = 0; start < count; start += chunkSize)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(chunkSize, count - start);
            var chunk = batch.narrow(0, start, length);
            if (device is not null && (chunk.device_type != device.type || chunk.device_index != device.index))
            {
                chunk = chunk.to(device);
            }

            CheckCounters.FlowEvaluated();
            var logProb = flow.LogProbUnchecked(chunk, source);
            logProb.to_type(ScalarType.Float64).cpu().data<double>().CopyTo(result, (int)start);
        }

        return result;
    }

    /// <summary>Puts every module of <paramref name="flow"/> in evaluation mode: once, when a scorer takes the flow.</summary>
    public static NormalizingFlow PrepareForScoring(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        if (!flow.IsInEvaluationMode)
        {
            flow.eval();
        }

        return flow;
    }

    /// <summary>Throws when some module of <paramref name="flow"/> is in training mode again.</summary>
    /// <exception cref="InvalidOperationException">The flow, or one of its modules, is in training mode.</exception>
    public static void EnsureEvaluationMode(NormalizingFlow flow)
    {
        if (!flow.IsInEvaluationMode)
        {
            throw new InvalidOperationException(
                "A scorer's flow was put back in training mode after the scorer was built (scoring would then update BatchNorm "
                + "statistics and race with other threads). Do not train a flow while a scorer uses it; call flow.eval() "
                + "when training is over, or build the scorer after training.");
        }
    }

    /// <summary>Throws a <see cref="InvalidOperationException"/> when a score came out NaN (never returned silently).</summary>
    public static double[] CheckFinite(double[] scores, string scorer)
    {
        CheckCounters.ScoresChecked(scores.Length);
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
}
