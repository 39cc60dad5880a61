using System;
using System.Linq;
using System.Threading;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Models;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The likelihood-ratio score of Ren et al. (2019) with flows: S(x) = log p_background(x) − log p_foreground(x), in
/// nats per example. <b>Higher = more out-of-distribution</b>; S is the negated LLR of Ren et al. (their
/// LLR(x) = log p_θ(x) − log p_θ₀(x) is higher for in-distribution inputs).
/// </summary>
/// <remarks>
/// <para>The foreground flow p_θ is trained on the in-distribution data; the background flow p_θ₀ on the same data with
/// every pixel replaced, with probability μ, by a uniformly random 8-bit level (<see cref="PixelPerturbation"/>, fresh
/// perturbations every step: <see cref="TrainBackground"/>). The background model captures population-level statistics
/// (smoothness, amount of background) that dominate raw likelihoods; subtracting it leaves the semantic part. Ren et al.
/// choose μ ∈ {0.1, 0.2, 0.3} and an L2 penalty ∈ {0, 10, 100} by validation AUROC; FlowOod's L2 penalty is
/// <see cref="TrainingOptions.WeightDecay"/> (the optimiser's weight decay on every parameter).</para>
/// <para>With flows, a background trained from scratch makes the ratio depend on the seed far more than on μ: both flows
/// carry their own initialisation's errors, and the ratio is a small difference of two large log-densities. Starting
/// the background from the trained foreground and fine-tuning it on perturbed data (<see cref="FineTuneBackground"/>)
/// cancels most of that. Measured on Fashion-MNIST → MNIST (Glow, 2 scales × 2 steps, width 16, 4,096 training images,
/// 300 foreground steps at lr 3e-3, 500 vs 500 test images): seeds 1/2/3 gave raw NLL AUROC 0.153/0.119/0.104; a
/// background trained from scratch (μ = 0.05) 0.932/0.521/0.180; the fine-tuned background (μ = 0.05, 600 steps at
/// lr 1e-3) 0.984/0.982/0.963.</para>
/// <para>Both flows are evaluated in evaluation mode under inference mode in chunks of <see cref="FlowScorer.ChunkSize"/>
/// examples with the same dequantization noise <see cref="FlowScorer.Noise"/> (with <see cref="ScoringNoiseKind.Seeded"/> noise
/// both see the same u). Nats: a difference of log-densities of the same x needs no discretization offset.</para>
/// </remarks>
[ComponentName("LikelihoodRatio")]
public sealed class LikelihoodRatioScorer : FlowScorer, IComponent<LikelihoodRatioScorer>
{
    // Keeps the perturbation stream apart from the trainer's shuffling generator, which is seeded with Seed itself.
    private const ulong PerturbationSeedSalt = 0x9E3779B97F4A7C15;

    /// <summary>Creates the scorer and puts both flows in evaluation mode.</summary>
    /// <param name="foreground">p_θ, the flow trained on in-distribution data.</param>
    /// <param name="background">p_θ₀, the flow trained on perturbed in-distribution data; same event shape.</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlows">Whether disposing the scorer disposes both flows (default false: they stay the caller's).</param>
    /// <exception cref="ArgumentException">The flows have different event shapes, or are the same instance.</exception>
    public LikelihoodRatioScorer(
        NormalizingFlow foreground, NormalizingFlow background, int chunkSize = 256, ScoringNoise? noise = null, bool ownsFlows = false)
        : base(CheckFlows(foreground, background), chunkSize, noise, ownsFlows)
    {
        Foreground = foreground;
        Background = background;
    }

    /// <summary>p_θ, the flow trained on in-distribution data.</summary>
    public NormalizingFlow Foreground { get; }

    /// <summary>p_θ₀, the background flow trained on perturbed in-distribution data.</summary>
    public NormalizingFlow Background { get; }

    /// <inheritdoc/>
    public override string Name => "Likelihood ratio (nats, log p_bg − log p_fg)";

    /// <summary>S(x) = log p_background(x) − log p_foreground(x) in nats per example; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, eventShape...]</c>, valid for both flows (shape, dtype, range).</param>
    /// <returns>One score per example.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    /// <exception cref="InvalidOperationException">A score came out NaN.</exception>
    public override double[] Score(Tensor batch)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(batch);
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, Foreground, Background);
        var foreground = LogProbUnchecked(Foreground, batch, oneChunk: values is not null);
        var background = LogProbUnchecked(Background, batch, oneChunk: values is not null);
        var scores = new double[foreground.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = background[i] - foreground[i];
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes both flows, the chunk size and the noise.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("foreground", Foreground);
        writer.WriteFlow("background", Background);
        WriteEvaluationSettings(writer);
    }

    /// <summary>Rebuilds a saved scorer; it owns the flows it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    public static LikelihoodRatioScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        var foreground = reader.ReadFlow("foreground");
        return new LikelihoodRatioScorer(foreground, reader.ReadFlow("background"), chunkSize, noise, ownsFlows: true);
    }

    private static NormalizingFlow[] CheckFlows(NormalizingFlow foreground, NormalizingFlow background)
    {
        ArgumentNullException.ThrowIfNull(foreground);
        ArgumentNullException.ThrowIfNull(background);
        if (!foreground.EventShape.SequenceEqual(background.EventShape))
        {
            throw new ArgumentException(
                $"The background flow's event shape {Shapes.Format(background.EventShape.ToArray())} differs from the foreground flow's "
                + $"{Shapes.Format(foreground.EventShape.ToArray())}; both must model the same inputs.",
                nameof(background));
        }

        if (ReferenceEquals(foreground, background))
        {
            throw new ArgumentException(
                "The background flow is the foreground flow; the score would be 0 for every input. Train a separate background flow.",
                nameof(background));
        }

        return [foreground, background];
    }

    /// <summary>
    /// The recommended background: a copy of the trained <paramref name="foreground"/> fine-tuned on
    /// <paramref name="inDistributionData"/> with fresh <see cref="PixelPerturbation"/>s of rate
    /// <paramref name="mutationRate"/> at every step (see the remarks of <see cref="LikelihoodRatioScorer"/> for why).
    /// </summary>
    /// <param name="foreground">The trained foreground flow, made by a FlowOod builder; it is not modified.</param>
    /// <param name="inDistributionData">The clean training images <c>[N, eventShape...]</c> in [0, 1]; not modified.</param>
    /// <param name="mutationRate">μ, the probability that a pixel is replaced; 0 ≤ μ ≤ 1 (0.05 worked best in our measurements).</param>
    /// <param name="options">The fine-tuning run's settings (e.g. 600 steps at lr 1e-3); <see cref="TrainingOptions.WeightDecay"/> is the optional L2 penalty.</param>
    /// <param name="progress">Receives the trainer's progress reports (losses of the perturbed batches).</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>The background flow, in evaluation mode; the caller owns it.</returns>
    /// <exception cref="NotSupportedException">The foreground was not made by a FlowOod builder, so it cannot be copied.</exception>
    public static NormalizingFlow FineTuneBackground(
        NormalizingFlow foreground,
        Tensor inDistributionData,
        double mutationRate,
        TrainingOptions options,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(foreground);
        var background = FlowCopy.Of(foreground);
        try
        {
            TrainBackground(background, inDistributionData, mutationRate, options, progress, cancellationToken);
            return background;
        }
        catch
        {
            background.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains <paramref name="backgroundFlow"/> on <paramref name="inDistributionData"/> with fresh
    /// <see cref="PixelPerturbation"/>s of rate <paramref name="mutationRate"/> at every step (Ren et al.'s background model).
    /// </summary>
    /// <param name="backgroundFlow">A fresh flow of the foreground's architecture (or any flow on the same inputs). The
    /// trainer initialises its uninitialised <see cref="ActNorm"/> layers from the first perturbed batch, since perturbed
    /// data is what the flow will see.</param>
    /// <param name="inDistributionData">The clean training images <c>[N, eventShape...]</c> in [0, 1]; not modified.</param>
    /// <param name="mutationRate">μ, the probability that a pixel is replaced; 0 ≤ μ ≤ 1 (Ren et al.: 0.1–0.3).</param>
    /// <param name="options">The trainer's settings; <see cref="TrainingOptions.WeightDecay"/> is the optional L2 penalty.
    /// The perturbations come from their own generator seeded from <see cref="TrainingOptions.Seed"/> (a different stream
    /// from the trainer's shuffling), so runs are reproducible.</param>
    /// <param name="progress">Receives the trainer's progress reports (losses of the perturbed batches).</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>What the run did.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mutationRate"/> is outside [0, 1] or an option is out of range.</exception>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values.</exception>
    /// <exception cref="TrainingDivergedException">The loss or gradient became non-finite.</exception>
    public static TrainingResult TrainBackground(
        NormalizingFlow backgroundFlow,
        Tensor inDistributionData,
        double mutationRate,
        TrainingOptions options,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backgroundFlow);
        ArgumentNullException.ThrowIfNull(inDistributionData);
        ArgumentNullException.ThrowIfNull(options);
        var perturbation = new PixelPerturbation(mutationRate);
        var trainer = new FlowTrainer(backgroundFlow, options);
        using var generator = new Generator(unchecked((ulong)options.Seed ^ PerturbationSeedSalt), inDistributionData.device);
        return trainer.Train(
            inDistributionData,
            progress: progress,
            batchTransform: batch => perturbation.Apply(batch, generator),
            cancellationToken: cancellationToken);
    }
}
