using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Components;
using MathNet.Numerics.Statistics;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The WAIC score of Choi, Jang &amp; Alemi (2018) over an ensemble of K independently trained flows:
/// score(x) = −WAIC(x) = Var_k log p_k(x) − mean_k log p_k(x), in nats. Higher = less likely on average or more
/// disputed among the models = more OOD.
/// </summary>
/// <remarks>
/// <para>WAIC(x) = mean_k log p_k(x) − Var_k log p_k(x), the ensemble standing in for samples from the posterior over
/// model parameters. The variance is the <b>sample</b> variance, 1/(K − 1) Σ_k (log p_k(x) − mean)², as in the WAIC
/// literature (Gelman, Hwang &amp; Vehtari 2014); mean and variance are computed by MathNet.Numerics. The variance term
/// penalizes inputs on which the models disagree, which a single flow's likelihood cannot see.</para>
/// <para>Every flow must have the same event shape; the input is validated against each flow. When some flow gives an
/// input zero density (log p = −∞) its score is +∞. Scoring runs each flow in evaluation mode under inference mode in
/// chunks of <see cref="FlowScorer.ChunkSize"/> examples with the dequantization noise of <see cref="FlowScorer.Noise"/>.</para>
/// </remarks>
[ComponentName("Waic")]
public sealed class WaicScorer : FlowScorer, IComponent<WaicScorer>
{
    private readonly NormalizingFlow[] ensemble;

    /// <summary>Creates the scorer.</summary>
    /// <param name="ensemble">K ≥ 2 trained flows with equal event shapes (e.g. the same architecture trained from different seeds).</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlows">Whether disposing the scorer disposes the flows (default false: they stay the caller's).</param>
    /// <exception cref="ArgumentNullException"><paramref name="ensemble"/> is null.</exception>
    /// <exception cref="ArgumentException">Fewer than 2 flows, a null flow, or event shapes differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkSize"/> is not positive.</exception>
    public WaicScorer(IReadOnlyList<NormalizingFlow> ensemble, int chunkSize = 256, ScoringNoise? noise = null, bool ownsFlows = false)
        : base(CheckEnsemble(ensemble), chunkSize, noise, ownsFlows)
    {
        this.ensemble = [.. ensemble];
    }

    private static NormalizingFlow[] CheckEnsemble(IReadOnlyList<NormalizingFlow> ensemble)
    {
        ArgumentNullException.ThrowIfNull(ensemble);
        if (ensemble.Count < 2)
        {
            throw new ArgumentException($"WAIC needs an ensemble of at least 2 flows (for a variance), got {ensemble.Count}.", nameof(ensemble));
        }

        var flows = ensemble.ToArray();
        for (int k = 0; k < flows.Length; k++)
        {
            if (flows[k] is null)
            {
                throw new ArgumentException($"Flow {k} of the ensemble is null.", nameof(ensemble));
            }
        }

        var shape = flows[0].EventShape;
        for (int k = 1; k < flows.Length; k++)
        {
            if (!flows[k].EventShape.SequenceEqual(shape))
            {
                throw new ArgumentException(
                    $"All flows of the ensemble must have the same event shape; flow 0 has [{string.Join(", ", shape)}], " +
                    $"flow {k} has [{string.Join(", ", flows[k].EventShape)}].",
                    nameof(ensemble));
            }
        }

        return flows;
    }

    /// <summary>The K flows, in the order given.</summary>
    public IReadOnlyList<NormalizingFlow> Ensemble => ensemble;

    /// <inheritdoc/>
    public override string Name => "−WAIC (nats)";

    /// <summary>
    /// One score −WAIC(x) = Var_k log p_k(x) − mean_k log p_k(x) in nats per example of <paramref name="batch"/>
    /// (sample variance); higher = more OOD.
    /// </summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>N scores in nats (+∞ when some flow gives an input zero density).</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values for some flow.</exception>
    /// <exception cref="InvalidOperationException">A flow produced a NaN log-likelihood.</exception>
    public override double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        var logLikelihoods = LogLikelihoods(batch, values, parameterName);
        var scores = new double[logLikelihoods[0].Length];
        var column = new double[ensemble.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            var zeroDensity = false;
            for (int k = 0; k < column.Length; k++)
            {
                column[k] = logLikelihoods[k][i];
                zeroDensity |= double.IsNegativeInfinity(column[k]);
            }

            scores[i] = zeroDensity ? double.PositiveInfinity : Statistics.Variance(column) - Statistics.Mean(column);
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the ensemble, chunk size and noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlows("ensemble", ensemble);
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flows it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static WaicScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        return new WaicScorer(reader.ReadFlows("ensemble"), chunkSize, noise, ownsFlows: true);
    }

    /// <summary>The per-model log-likelihoods log p_k(x) in nats: element [k][n] is flow k's log-density of example n.</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>.</param>
    /// <returns>K arrays of N log-likelihoods in nats (higher = more likely under that flow).</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values for some flow.</exception>
    /// <exception cref="InvalidOperationException">A flow produced a NaN log-likelihood.</exception>
    public double[][] LogLikelihoods(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        return LogLikelihoods(batch, null, nameof(batch));
    }

    // The batch's values are read once for all K flows (or not at all when a caller read them: values given).
    private double[][] LogLikelihoods(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, ensemble);
        var result = new double[ensemble.Length][];
        for (int k = 0; k < ensemble.Length; k++)
        {
            result[k] = FlowEvaluation.CheckFinite(
                LogProbUnchecked(ensemble[k], batch, oneChunk: values is not null), $"{Name}, flow {k}");
        }

        return result;
    }
}
