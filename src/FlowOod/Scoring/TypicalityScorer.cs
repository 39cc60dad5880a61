using System;
using FlowOod.Components;
using MathNet.Numerics.Statistics;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The single-input typicality score of Nalisnick et al. (2019): |−log p(x) − Ĥ| in nats, where Ĥ is the flow's entropy
/// estimated as the mean negative log-likelihood of held-out in-distribution data. Higher = further from the typical
/// set = more OOD.
/// </summary>
/// <remarks>
/// <para>In high dimension almost all of a distribution's mass lies in its typical set, where −log p(x) ≈ H, not at its
/// mode. This score therefore flags inputs whose likelihood is atypically <i>high</i> as well as atypically low: for a
/// standard normal in D dimensions the mode x = 0 has −log p = (D/2)·log 2π, while H = (D/2)·(1 + log 2π), so the
/// mode scores D/2 nats although no input is more likely.</para>
/// <para>This is the batch test of <see cref="TypicalityTest"/> with batch size M = 1 and no threshold; threshold it
/// with calibration on in-distribution scores. Nalisnick et al. designed the test for batches and note it is weak on
/// single inputs. Scoring and <see cref="Fit"/> run in evaluation mode under inference mode in chunks of
/// <see cref="FlowScorer.ChunkSize"/> examples with the dequantization noise of <see cref="FlowScorer.Noise"/>.</para>
/// </remarks>
[ComponentName("Typicality")]
public sealed class TypicalityScorer : FlowScorer, IComponent<TypicalityScorer>
{
    /// <summary>Creates the scorer from its state (e.g. when reloading a saved scorer).</summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="entropy">Ĥ, the entropy estimate in nats per example (mean −log p(x) of in-distribution data); finite.</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="flow"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="entropy"/> is not finite or <paramref name="chunkSize"/> is not positive.</exception>
    public TypicalityScorer(NormalizingFlow flow, double entropy, int chunkSize = 256, ScoringNoise? noise = null, bool ownsFlow = false)
        : base([flow ?? throw new ArgumentNullException(nameof(flow))], chunkSize, noise, ownsFlow)
    {
        if (!double.IsFinite(entropy))
        {
            throw new ArgumentOutOfRangeException(nameof(entropy), entropy, $"The entropy estimate must be finite, got {entropy}.");
        }

        Flow = flow;
        Entropy = entropy;
    }

    /// <summary>The flow.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>Ĥ, the entropy estimate: mean −log p(x) of held-out in-distribution data, in nats per example.</summary>
    public double Entropy { get; }

    /// <inheritdoc/>
    public override string Name => "Typicality |NLL − Ĥ| (nats)";

    /// <summary>
    /// Fits the scorer: Ĥ = (1/N) Σ_n −log p(x_n) in nats over <paramref name="heldOutInDistribution"/> (data the flow
    /// was not trained on), evaluated with <paramref name="noise"/>.
    /// </summary>
    /// <param name="flow">The trained flow.</param>
    /// <param name="heldOutInDistribution">Held-out in-distribution data <c>[N, eventShape...]</c>, N ≥ 2.</param>
    /// <param name="chunkSize">Examples evaluated at once. Default 256.</param>
    /// <param name="noise">Dequantization noise for fitting and scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <returns>The fitted scorer.</returns>
    /// <exception cref="ArgumentException">The data is invalid for the flow or has fewer than 2 examples.</exception>
    /// <exception cref="InvalidOperationException">The flow gives a held-out example a NaN or infinite log-likelihood.</exception>
    public static TypicalityScorer Fit(
        NormalizingFlow flow, Tensor heldOutInDistribution, int chunkSize = 256, ScoringNoise? noise = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        noise ??= ScoringNoise.BinCentres;
        var nll = HeldOutNegativeLogLikelihoods(flow, heldOutInDistribution, chunkSize, noise, minimum: 2, nameof(heldOutInDistribution));
        return new TypicalityScorer(flow, Statistics.Mean(nll), chunkSize, noise);
    }

    /// <summary>One score |−log p(x) − <see cref="Entropy"/>| in nats per example of <paramref name="batch"/>; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>N non-negative scores in nats (+∞ when the flow gives an input zero density).</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    public override double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, Flow);
        var logProb = LogProbUnchecked(Flow, batch, oneChunk: values is not null);
        var scores = new double[logProb.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = Math.Abs(-logProb[i] - Entropy);
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the flow, entropy estimate, chunk size and noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        writer.WriteDouble("entropy", Entropy);
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flow it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static TypicalityScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var entropy = reader.ReadDouble("entropy", double.MinValue, double.MaxValue);
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        return new TypicalityScorer(reader.ReadFlow("flow"), entropy, chunkSize, noise, ownsFlow: true);
    }

    /// <summary>−log p(x) in nats of held-out data, all finite, at least <paramref name="minimum"/> examples.</summary>
    internal static double[] HeldOutNegativeLogLikelihoods(
        NormalizingFlow flow, Tensor data, int chunkSize, ScoringNoise noise, int minimum, string parameter)
    {
        FlowEvaluation.PrepareForScoring(flow);
        flow.ValidateInput(data, parameter);
        if (data.size(0) < minimum)
        {
            throw new ArgumentException(
                $"Fitting needs at least {minimum} held-out in-distribution examples, got {data.size(0)}.", parameter);
        }

        var logProb = FlowEvaluation.LogProbUnchecked(flow, data, chunkSize, noise);
        var nll = new double[logProb.Length];
        for (int i = 0; i < nll.Length; i++)
        {
            if (!double.IsFinite(logProb[i]))
            {
                throw new InvalidOperationException(
                    $"The flow gives held-out example {i} the log-likelihood {logProb[i]}; the entropy estimate needs finite values.");
            }

            nll[i] = -logProb[i];
        }

        return nll;
    }
}
