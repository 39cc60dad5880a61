using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The plain likelihood score: −log p(x) under a flow (in nats or bits/dim). Higher = less likely = more OOD.
/// </summary>
/// <remarks>
/// This is the score Nalisnick et al. (2019) and Kirichenko et al. (2020) show to fail on Fashion-MNIST → MNIST: flows
/// give the OOD digits <i>higher</i> likelihood, so its AUROC there is far below 0.5. Both units rank inputs
/// identically. The flow is put in evaluation mode; scoring runs under inference mode in chunks of
/// <see cref="ChunkSize"/> examples.
/// </remarks>
public sealed class NegativeLogLikelihoodScorer : IOodScorer
{
    private readonly NormalizingFlow flow;

    /// <summary>Creates the scorer.</summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="unit">Nats or bits/dim (default).</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    public NegativeLogLikelihoodScorer(NormalizingFlow flow, LikelihoodUnit unit = LikelihoodUnit.BitsPerDim, int chunkSize = 256)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        this.flow = flow;
        Unit = unit;
        ChunkSize = chunkSize;
    }

    /// <summary>The score's unit.</summary>
    public LikelihoodUnit Unit { get; }

    /// <summary>Examples evaluated at once.</summary>
    public int ChunkSize { get; }

    /// <inheritdoc/>
    public string Name => Unit == LikelihoodUnit.Nats ? "NLL (nats)" : "NLL (bits/dim)";

    /// <inheritdoc/>
    public double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        flow.ValidateInput(batch);
        flow.eval();
        var count = batch.shape[0];
        var scores = new double[count];
        using var inference = inference_mode();
        for (long start = 0; start < count; start += ChunkSize)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(ChunkSize, count - start);
            var chunk = batch.narrow(0, start, length);
            var logProb = flow.LogProbUnchecked(chunk);
            var score = Unit == LikelihoodUnit.Nats
                ? logProb.neg()
                : flow.ToBitsPerDim(logProb);
            var values = score.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            values.CopyTo(scores, (int)start);
        }

        return scores;
    }
}
