using System;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The plain likelihood score: −log p(x) under a flow (in nats or bits/dim). Higher = less likely = more OOD.
/// </summary>
/// <remarks>
/// This is the score Nalisnick et al. (2019) and Kirichenko et al. (2020) show to fail on Fashion-MNIST → MNIST: flows
/// give the OOD digits <i>higher</i> likelihood, so its AUROC there is far below 0.5. Both units rank inputs
/// identically. Scoring runs in evaluation mode under inference mode in chunks of <see cref="FlowScorer.ChunkSize"/> examples,
/// with the dequantization noise of <see cref="FlowScorer.Noise"/>. Batches of at most 16 feature vectors through an
/// affine-coupling flow with MLP st-networks (<see cref="Models.TabularRealNvp"/>; the gate's case) are computed in
/// managed code from the flow's weights instead, without libtorch's fixed cost per operation (<c>HostCouplingFlow</c>).
/// </remarks>
[ComponentName("NegativeLogLikelihood")]
public sealed class NegativeLogLikelihoodScorer : FlowScorer, IComponent<NegativeLogLikelihoodScorer>
{
    /// <summary>Creates the scorer and puts <paramref name="flow"/> in evaluation mode.</summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="unit">Nats or bits/dim (default).</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    public NegativeLogLikelihoodScorer(
        NormalizingFlow flow,
        LikelihoodUnit unit = LikelihoodUnit.BitsPerDim,
        int chunkSize = 256,
        ScoringNoise? noise = null,
        bool ownsFlow = false)
        : base([flow ?? throw new ArgumentNullException(nameof(flow))], chunkSize, noise, ownsFlow)
    {
        if (!Enum.IsDefined(unit))
        {
            throw new ArgumentOutOfRangeException(nameof(unit), unit, "Unknown likelihood unit.");
        }

        Flow = flow;
        Unit = unit;
    }

    /// <summary>The flow.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>The score's unit.</summary>
    public LikelihoodUnit Unit { get; }

    /// <inheritdoc/>
    public override string Name => Unit == LikelihoodUnit.Nats ? "NLL (nats)" : "NLL (bits/dim)";

    /// <inheritdoc/>
    public override double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        var logProb = Host(Flow)?.TryCheckedLogProb(batch, values, parameterName);
        if (logProb is null)
        {
            ValidateInput(batch, values, parameterName, Flow);
            logProb = LogProbUnchecked(Flow, batch, oneChunk: values is not null);
        }

        var scores = new double[logProb.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = Unit == LikelihoodUnit.Nats ? -logProb[i] : Flow.ToBitsPerDim(logProb[i]);
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the flow, unit, chunk size and noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        writer.WriteEnum("unit", Unit);
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flow it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static NegativeLogLikelihoodScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var unit = reader.ReadEnum<LikelihoodUnit>("unit");
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        return new NegativeLogLikelihoodScorer(reader.ReadFlow("flow"), unit, chunkSize, noise, ownsFlow: true);
    }
}
