using System;
using System.Linq;
using System.Threading;
using FlowOod.Components;
using FlowOod.Models;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The likelihood ratio against a deliberately local model: S(x) = [log p_local(x) − log p_full(x)] / (D ln 2), in
/// bits per dimension. <b>Higher = more out-of-distribution.</b>
/// </summary>
/// <remarks>
/// <para>Why (Kirichenko et al. 2020): a flow's likelihood is dominated by local pixel correlations that every natural
/// image shares, so images that are smooth locally (MNIST digits on a flat background) get high likelihood whatever
/// they show. A model that can only learn local statistics, trained on the same in-distribution images, explains exactly
/// that part; the ratio log p_full − log p_local keeps what the full flow learnt beyond it, and S is its negation. This
/// is the idea of Schirrmeister et al. (2020, a general-domain model as reference) and Zhang, Zhang &amp; McDonagh
/// (2021, local autoregressive models); here the local model is a FlowOod flow, by default
/// <see cref="AutoregressiveFlowOptions.Local"/> (one pixel-autoregressive layer whose conditionals see the 24 preceding
/// pixels of a 7×7 window), or <see cref="SingleScaleRealNvpOptions.Local"/> (4 checkerboard couplings whose st-networks
/// see 3×3 windows, no squeeze: each latent depends on a 9×9 window).</para>
/// <para>The ratio only isolates the non-local part when the local model fits local statistics at least as well as the
/// full flow does; a weaker local model makes the score follow the two models' difference in fit instead (see
/// docs/results.md, "Which scores generalise").</para>
/// <para>What is fitted on what: the full flow p_full is the user's trained flow; the local flow p_local is trained on
/// the same in-distribution training images by <see cref="TrainLocalFlow"/>. Nothing is fitted on OOD data and nothing
/// else is fitted. Both flows must model the same inputs (event shape, input range, discretization levels).</para>
/// <para>Both flows are evaluated in evaluation mode under inference mode in chunks of <see cref="FlowScorer.ChunkSize"/>
/// examples with the same dequantization noise <see cref="FlowScorer.Noise"/>. Cost: one pass of each flow (the local
/// flow is small: the preset costs about a tenth of a compact RealNVP).</para>
/// </remarks>
[ComponentName("LocalLikelihoodRatio")]
public sealed class LocalLikelihoodRatioScorer : FlowScorer, IComponent<LocalLikelihoodRatioScorer>
{
    /// <summary>Creates the scorer and puts both flows in evaluation mode.</summary>
    /// <param name="full">p_full, the flow trained on in-distribution data.</param>
    /// <param name="local">p_local, a local flow trained on the same data (<see cref="TrainLocalFlow"/>).</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlows">Whether disposing the scorer disposes both flows (default false: they stay the caller's).</param>
    /// <exception cref="ArgumentException">The flows model different inputs, or are the same instance.</exception>
    public LocalLikelihoodRatioScorer(
        NormalizingFlow full, NormalizingFlow local, int chunkSize = 256, ScoringNoise? noise = null, bool ownsFlows = false)
        : base(CheckFlows(full, local), chunkSize, noise, ownsFlows)
    {
        Full = full;
        Local = local;
    }

    /// <summary>p_full, the flow trained on in-distribution data.</summary>
    public NormalizingFlow Full { get; }

    /// <summary>p_local, the local flow trained on the same data.</summary>
    public NormalizingFlow Local { get; }

    /// <inheritdoc/>
    public override string Name => "Local likelihood ratio (bits/dim, log p_local − log p_full)";

    /// <summary>S(x) = [log p_local(x) − log p_full(x)] / (D ln 2) per example; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>, valid for both flows (shape, dtype, range).</param>
    /// <returns>One score per example, in bits/dim.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    /// <exception cref="InvalidOperationException">A score came out NaN or infinite.</exception>
    public override double[] Score(Tensor batch)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(batch);
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, Full, Local);
        var full = LogProbUnchecked(Full, batch, oneChunk: values is not null);
        var local = LogProbUnchecked(Local, batch, oneChunk: values is not null);
        double perDimension = Full.Dimensions * Math.Log(2);
        var scores = new double[full.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = (local[i] - full[i]) / perDimension;
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes both flows, the chunk size and the noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("full", Full);
        writer.WriteFlow("local", Local);
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flows it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static LocalLikelihoodRatioScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        var full = reader.ReadFlow("full");
        try
        {
            return new LocalLikelihoodRatioScorer(full, reader.ReadFlow("local"), chunkSize, noise, ownsFlows: true);
        }
        catch
        {
            full.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds a local flow (default <see cref="AutoregressiveFlowOptions.Local"/>) for the images' shape and trains it on
    /// <paramref name="inDistributionData"/>, the full flow's training images.
    /// </summary>
    /// <param name="inDistributionData">Training images <c>[N, C, H, W]</c> in [0, 1] (8-bit levels); not modified.</param>
    /// <param name="options">The training run (steps, batch size, learning rate, seed).</param>
    /// <param name="architecture">The local flow's builder options; null: <see cref="AutoregressiveFlowOptions.Local"/>. Keep
    /// each latent's window small (<see cref="SingleScaleRealNvpOptions.Local"/> also qualifies), or the flow stops being local.</param>
    /// <param name="progress">Receives the trainer's progress reports.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>The trained flow on the data's device, in evaluation mode; the caller owns it.</returns>
    /// <exception cref="ArgumentException">The data is not a batch of images in [0, 1].</exception>
    /// <exception cref="TrainingDivergedException">The loss or gradient became non-finite.</exception>
    public static NormalizingFlow TrainLocalFlow(
        Tensor inDistributionData,
        TrainingOptions options,
        IFlowBuilderOptions? architecture = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inDistributionData);
        ArgumentNullException.ThrowIfNull(options);
        if (inDistributionData.dim() != 4)
        {
            throw new ArgumentException(
                $"The local flow is trained on a batch of images [N, C, H, W]; got {Shapes.Format(inDistributionData.Sizes())}.",
                nameof(inDistributionData));
        }

        var flow = (architecture ?? AutoregressiveFlowOptions.Local).Build(inDistributionData.Sizes().Skip(1).ToArray(), inDistributionData.device);
        try
        {
            new FlowTrainer(flow, options).Train(inDistributionData, progress: progress, cancellationToken: cancellationToken);
            flow.eval();
            return flow;
        }
        catch
        {
            flow.Dispose();
            throw;
        }
    }

    private static NormalizingFlow[] CheckFlows(NormalizingFlow full, NormalizingFlow local)
    {
        ArgumentNullException.ThrowIfNull(full);
        ArgumentNullException.ThrowIfNull(local);
        if (ReferenceEquals(full, local))
        {
            throw new ArgumentException("The local flow is the full flow; the score would be 0 for every input. Train a local flow with TrainLocalFlow.", nameof(local));
        }

        if (!full.EventShape.SequenceEqual(local.EventShape) || full.InputRange != local.InputRange || full.DiscretizationLevels != local.DiscretizationLevels)
        {
            throw new ArgumentException(
                $"The local flow models {Describe(local)} but the full flow {Describe(full)}; both must model the same inputs.",
                nameof(local));
        }

        return [full, local];
    }

    private static string Describe(NormalizingFlow flow) =>
        FormattableString.Invariant(
            $"{Shapes.Format(flow.EventShape.ToArray())} in {(flow.InputRange is { } range ? $"[{range.Min}, {range.Max}]" : "any range")} with {(flow.DiscretizationLevels is { } levels ? levels : "no")} discretization levels");
}
