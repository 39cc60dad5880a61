using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FlowOod.Bijectors;
using FlowOod.Precision;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Training;

/// <summary>Trains a <see cref="NormalizingFlow"/> by maximum likelihood with Adam (or RMSprop) and gradient-norm clipping.</summary>
/// <remarks>
/// Each step draws a mini-batch without replacement (reshuffling every epoch with a generator seeded from
/// <see cref="TrainingOptions.Seed"/>), minimises the mean negative log-likelihood, clips the global gradient norm and
/// takes an optimiser step (<see cref="TrainingOptions.Optimizer"/>). A non-finite loss or gradient stops training with a <see cref="TrainingDivergedException"/>
/// before the bad update is applied. Runs with the same seed, data and thread count are reproducible on the CPU: the
/// trainer draws its dequantization noise from a generator of its own, seeded from <see cref="TrainingOptions.Seed"/>,
/// and never touches TorchSharp's global generator, so trainers on different threads do not disturb each other (or
/// anything else in the process).
/// Losses are reported in bits/dim (<see cref="Bijectors.Discretization"/>; nats/dim ÷ ln 2 for continuous data).
/// Every step's tensors live in their own dispose scope. When <see cref="Train"/> returns or throws, the flow is in
/// evaluation mode. <see cref="ActNorm"/> layers that are not initialised yet are initialised from the first training
/// batch (after the batch transform), Glow's data-dependent initialisation; initialised ones are left alone. An optional per-batch transform (a parameter of <see cref="Train"/>, not an option, so that
/// <see cref="TrainingOptions"/> stays plain data) lets every step see fresh augmented or perturbed inputs, e.g. the
/// <c>Scoring.PixelPerturbation</c> of a likelihood-ratio background model.
/// </remarks>
public sealed class FlowTrainer
{
    private const int EvaluationChunk = 256;

    // Keeps the evaluation noise apart from the training noise, which is seeded with Seed itself.
    private const ulong EvaluationSeedSalt = 0xD1B54A32D192ED03;

    // Keeps the negatives' shuffle apart from the in-distribution shuffle.
    private const ulong NegativeSeedSalt = 0x9E3779B97F4A7C15;
    private readonly NormalizingFlow flow;
    private readonly TrainingOptions options;

    /// <summary>Creates a trainer for <paramref name="flow"/>.</summary>
    public FlowTrainer(NormalizingFlow flow, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.flow = flow;
        this.options = options;
    }

    /// <summary>Trains on <paramref name="data"/>, <c>[N, eventShape...]</c> on the flow's device.</summary>
    /// <param name="data">Training examples; for image flows, float values in [0, 1].</param>
    /// <param name="evaluationData">Optional held-out examples whose mean loss is computed (in evaluation mode, without
    /// gradients) every <see cref="TrainingOptions.EvaluationInterval"/> steps and after the last step.</param>
    /// <param name="progress">Receives a report every <see cref="TrainingOptions.ProgressInterval"/> steps and at the end.</param>
    /// <param name="batchTransform">Optional: applied, without gradients, to every training mini-batch
    /// (<c>[B, eventShape...]</c>) before the loss; must return a batch of the same shape that is valid for the flow.
    /// Runs inside the step's dispose scope, so the tensors it creates are freed after the step; it must not dispose its
    /// argument. Not applied to <paramref name="evaluationData"/>. Default null: the batch is used as is.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>What the run did.</returns>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values, or
    /// <paramref name="batchTransform"/> returned an invalid batch.</exception>
    /// <exception cref="TrainingDivergedException">The loss or gradient became non-finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the model keeps the last completed step.</exception>
    public TrainingResult Train(
        Tensor data,
        Tensor? evaluationData = null,
        IProgress<TrainingProgress>? progress = null,
        Func<Tensor, Tensor>? batchTransform = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        flow.ValidateInput(data, nameof(data));
        if (evaluationData is not null)
        {
            flow.ValidateInput(evaluationData, nameof(evaluationData));
        }

        return Run(data, null, evaluationData, progress, batchTransform, cancellationToken);
    }

    /// <summary>
    /// Negative training (Kirichenko et al. 2020, App. B): maximum likelihood on <paramref name="data"/> while the
    /// likelihood of <paramref name="negatives"/> is pushed down, each negative only until its loss passes the bound.
    /// </summary>
    /// <remarks>
    /// <para>Every step draws an in-distribution batch x₁…x_B and a negative batch y₁…y_B of the same size (each set
    /// shuffled on its own, with its own seeded generator; epochs count passes over <paramref name="data"/>, the
    /// negatives are reshuffled whenever they run out; with fewer than B negatives every step uses all of them). With
    /// per-example NLL(x) = −log p(x) in nats and K = { j : bits/dim(y_j) &lt; b } (b =
    /// <see cref="NegativeTrainingOptions.BoundBitsPerDim"/>, the membership computed without gradients) the loss is</para>
    /// <para>L = ½ · ( (1/B) Σᵢ NLL(xᵢ) − (1/|K|) Σ_{j∈K} NLL(y_j) ), or L = (1/B) Σᵢ NLL(xᵢ) when K is empty,</para>
    /// <para>exactly the objective of the paper's <c>train_unsup_ood_negative.py</c>: a negative past the bound adds
    /// nothing to the loss or its gradient, which keeps the objective bounded below. Optimiser, gradient clipping,
    /// dequantization noise, divergence checks, ActNorm initialisation (from the first in-distribution batch) and
    /// evaluation work as in <see cref="Train"/>. <see cref="TrainingProgress.Loss"/> and
    /// <see cref="TrainingResult.FinalLoss"/> are the in-distribution bits/dim (not L);
    /// <see cref="TrainingProgress.NegativeLoss"/> and <see cref="TrainingResult.NegativeLoss"/> the mean bits/dim of
    /// all the negatives drawn in the interval (kept or not).</para>
    /// </remarks>
    /// <param name="data">In-distribution examples <c>[N, eventShape...]</c> on the flow's device.</param>
    /// <param name="negatives">Negative (OOD) examples <c>[M, eventShape...]</c>, M ≥ 1, valid inputs of the flow (same event
    /// shape, dtype, device and value range as <paramref name="data"/>).</param>
    /// <param name="negative">The bound.</param>
    /// <param name="evaluationData">Optional held-out in-distribution examples, as in <see cref="Train"/>.</param>
    /// <param name="progress">Receives a report every <see cref="TrainingOptions.ProgressInterval"/> steps and at the end.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>What the run did.</returns>
    /// <exception cref="ArgumentException">A data set has the wrong shape, dtype or values, or there are no negatives.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The bound is not positive and finite.</exception>
    /// <exception cref="TrainingDivergedException">The loss or gradient became non-finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the model keeps the last completed step.</exception>
    public TrainingResult TrainWithNegatives(
        Tensor data,
        Tensor negatives,
        NegativeTrainingOptions negative,
        Tensor? evaluationData = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(negatives);
        ArgumentNullException.ThrowIfNull(negative);
        negative.Validate();
        flow.ValidateInput(data, nameof(data));
        try
        {
            flow.ValidateInput(negatives, nameof(negatives));
        }
        catch (ArgumentException e)
        {
            var reason = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", string.Empty, StringComparison.Ordinal);
            throw new ArgumentException($"The negatives are not valid inputs of the flow: {reason}", nameof(negatives), e);
        }

        if (negatives.size(0) == 0)
        {
            throw new ArgumentException("Negative training needs at least one negative example.", nameof(negatives));
        }

        if (evaluationData is not null)
        {
            flow.ValidateInput(evaluationData, nameof(evaluationData));
        }

        return Run(data, (negatives, negative.BoundBitsPerDim), evaluationData, progress, null, cancellationToken);
    }

    private TrainingResult Run(
        Tensor data,
        (Tensor Data, double BoundBitsPerDim)? negatives,
        Tensor? evaluationData,
        IProgress<TrainingProgress>? progress,
        Func<Tensor, Tensor>? batchTransform,
        CancellationToken cancellationToken)
    {
        var count = data.size(0);
        var batchSize = (int)Math.Min(options.BatchSize, count);
        var totalSteps = options.Epochs is { } epochs
            ? (int)Math.Min(int.MaxValue, ((epochs * count) + batchSize - 1) / batchSize)
            : options.Steps;
        var parameters = flow.parameters().ToArray();

        using var shuffle = new Generator((ulong)options.Seed);
        using var noiseGenerator = new Generator((ulong)options.Seed, data.device);
        using var noise = DrawsFrom(noiseGenerator);
        using var negativeShuffle = new Generator(unchecked((ulong)options.Seed ^ NegativeSeedSalt));
        using var optimizer = new FlowOptimizer(parameters, options.Optimizer, options.LearningRate, options.WeightDecay);
        Tensor? order = null;
        long cursor = count;
        var negativeCount = negatives?.Data.size(0) ?? 0;
        var negativeBatch = (int)Math.Min(batchSize, negativeCount);
        Tensor? negativeOrder = null;
        long negativeCursor = negativeCount;
        var clock = new Stopwatch();
        double intervalLoss = 0;
        double intervalNegative = 0;
        int intervalSteps = 0;
        double lastLoss = double.NaN;
        double? lastNegative = null;
        double? evaluationLoss = null;
        var precision = ConditionerPrecision.Choose(options.Precision, parameters.FirstOrDefault()?.device).Precision;
        using var mixed = ConditionerPrecision.Train(flow, precision);
        try
        {
            for (int step = 1; step <= totalSteps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                clock.Start();
                flow.train();
                using (var stepScope = NewDisposeScope())
                {
                    // The index views belong to this step's scope; the orders they view outlive it.
                    var indices = Next(ref order, ref cursor, count, batchSize, shuffle, data.device);
                    NegativeBatch? negativeBatchOfStep = null;
                    if (negatives is { } n)
                    {
                        var negativeIndices = Next(ref negativeOrder, ref negativeCursor, negativeCount, negativeBatch, negativeShuffle, n.Data.device);
                        negativeBatchOfStep = new NegativeBatch(n.Data, negativeIndices, n.BoundBitsPerDim);
                    }

                    var (loss, negativeLoss) = Step(data, indices, negativeBatchOfStep, batchTransform, optimizer, parameters, step, noise);
                    intervalLoss += loss;
                    intervalNegative += negativeLoss;
                }

                intervalSteps++;
                clock.Stop();

                double? evaluated = null;
                if (evaluationData is not null
                    && ((options.EvaluationInterval > 0 && step % options.EvaluationInterval == 0) || step == totalSteps))
                {
                    evaluated = evaluationLoss = MeanLoss(evaluationData);
                }

                if (step % options.ProgressInterval == 0 || step == totalSteps || evaluated is not null)
                {
                    if (intervalSteps > 0)
                    {
                        lastLoss = intervalLoss / intervalSteps;
                        lastNegative = negatives is null ? null : intervalNegative / intervalSteps;
                    }

                    intervalLoss = 0;
                    intervalNegative = 0;
                    intervalSteps = 0;
                    progress?.Report(new TrainingProgress(step, totalSteps, lastLoss, Rate(step, batchSize, clock), clock.Elapsed, evaluated)
                    {
                        NegativeLoss = lastNegative,
                    });
                }
            }
        }
        finally
        {
            order?.Dispose();
            negativeOrder?.Dispose();
            flow.eval();
        }

        return new TrainingResult(totalSteps, lastLoss, Rate(totalSteps, batchSize, clock), clock.Elapsed, evaluationLoss)
        {
            NegativeLoss = lastNegative,
            Precision = precision,
        };
    }

    // The next batchSize indices of a shuffled order, drawn without replacement; a fresh permutation (kept out of any
    // dispose scope, freed by the caller) when the order runs out. The returned view is in the caller's scope.
    private static Tensor Next(ref Tensor? order, ref long cursor, long count, int batchSize, Generator shuffle, Device device)
    {
        if (cursor + batchSize > count)
        {
            order?.Dispose();
            order = randperm(count, generator: shuffle, device: device).DetachFromDisposeScope();
            cursor = 0;
        }

        var indices = order!.narrow(0, cursor, batchSize);
        cursor += batchSize;
        return indices;
    }

    /// <summary>
    /// The loss of negative training: L = ½·(mean NLL_in − mean_{j∈K} NLL_neg,j) with K the negatives whose bits/dim is
    /// below <paramref name="boundBitsPerDim"/> (chosen without gradients), or mean NLL_in when K is empty.
    /// </summary>
    /// <param name="flow">Converts the per-example log-densities to bits/dim.</param>
    /// <param name="inLogProb">log p of the in-distribution batch, nats, <c>[B]</c>.</param>
    /// <param name="negativeLogProb">log p of the negative batch, nats, <c>[B']</c>.</param>
    /// <param name="boundBitsPerDim">The bound b.</param>
    /// <returns>The scalar loss (nats per example) and |K|.</returns>
    internal static (Tensor Loss, long Kept) NegativeObjective(NormalizingFlow flow, Tensor inLogProb, Tensor negativeLogProb, double boundBitsPerDim)
    {
        using var scope = NewDisposeScope();
        var inNll = inLogProb.mean().neg();
        Tensor keep;
        using (no_grad())
        {
            keep = flow.ToBitsPerDim(negativeLogProb.detach()).LessThan(boundBitsPerDim);
        }

        var kept = keep.sum().ReadInt64();
        if (kept == 0)
        {
            return (scope.MoveToOuter(inNll), 0);
        }

        var negativeNll = negativeLogProb.masked_select(keep).mean().neg();
        return (scope.MoveToOuter(inNll.sub(negativeNll).Times(0.5)), kept);
    }

    /// <summary>The mean loss of <paramref name="data"/> in bits/dim, in evaluation mode without gradients.</summary>
    /// <remarks>Dequantization noise comes from a generator seeded afresh from <see cref="TrainingOptions.Seed"/> at every
    /// call, so the same data gives the same loss, and evaluating does not change the training noise.</remarks>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values.</exception>
    public double MeanLoss(Tensor data)
    {
        ArgumentNullException.ThrowIfNull(data);
        flow.ValidateInput(data, nameof(data));
        var wasTraining = flow.training;
        flow.eval();
        try
        {
            using var inference = inference_mode();
            using var noiseGenerator = new Generator(unchecked((ulong)options.Seed ^ EvaluationSeedSalt), data.device);
            using var noise = DrawsFrom(noiseGenerator);
            double sum = 0;
            var count = data.size(0);
            for (long start = 0; start < count; start += EvaluationChunk)
            {
                using var scope = NewDisposeScope();
                var chunk = data.narrow(0, start, Math.Min(EvaluationChunk, count - start));
                sum += flow.ToBitsPerDim(flow.LogProbUnchecked(chunk, noise)).sum().ReadDouble();
            }

            return sum / count;
        }
        finally
        {
            if (wasTraining)
            {
                flow.train();
            }
        }
    }

    // One optimiser step; returns the in-distribution bits/dim and the negatives' mean bits/dim (0 without negatives).
    private (double Loss, double NegativeLoss) Step(
        Tensor data,
        Tensor indices,
        NegativeBatch? negatives,
        Func<Tensor, Tensor>? batchTransform,
        FlowOptimizer optimizer,
        Parameter[] parameters,
        int step,
        NoiseSource? noise)
    {
        using var scope = NewDisposeScope();
        var batch = data.index_select(0, indices);
        if (batchTransform is not null)
        {
            batch = Transform(batch, batchTransform);
        }

        if (step == 1 && flow.modules().OfType<ActNorm>().Any(layer => !layer.IsInitialized))
        {
            // The initialisation pass draws its dequantization noise from the trainer's generator, as the steps do.
            flow.ValidateInput(batch, nameof(batch));
            ActNorm.InitializeAll(flow, () => flow.ForwardUnchecked(batch, noise), reinitialize: false);
        }

        optimizer.ZeroGrad();
        var logProb = flow.LogProbUnchecked(batch, noise);
        Tensor objective;
        double negativeLoss = 0;
        if (negatives is { } n)
        {
            var negativeLogProb = flow.LogProbUnchecked(n.Data.index_select(0, n.Indices), noise);
            (objective, _) = NegativeObjective(flow, logProb, negativeLogProb, n.BoundBitsPerDim);
            negativeLoss = flow.ToBitsPerDim(negativeLogProb.detach().mean().ReadDouble());
        }
        else
        {
            objective = logProb.mean().neg();
        }

        var objectiveValue = objective.ReadDouble();
        var loss = negatives is null ? objectiveValue : -logProb.detach().mean().ReadDouble();
        if (!double.IsFinite(objectiveValue) || !double.IsFinite(loss))
        {
            throw new TrainingDivergedException(step, double.IsFinite(objectiveValue) ? loss : objectiveValue, double.NaN);
        }

        objective.backward();
        var gradientNorm = nn.utils.clip_grad_norm_(parameters, options.MaxGradNorm);
        if (!double.IsFinite(gradientNorm))
        {
            throw new TrainingDivergedException(step, objectiveValue, gradientNorm);
        }

        optimizer.Step();
        return (flow.ToBitsPerDim(-loss), negativeLoss);
    }

    // The negatives of one step: the set, this step's indices into it and the bound.
    private readonly record struct NegativeBatch(Tensor Data, Tensor Indices, double BoundBitsPerDim);

    private Tensor Transform(Tensor batch, Func<Tensor, Tensor> batchTransform)
    {
        Tensor transformed;
        using (no_grad())
        {
            transformed = batchTransform(batch)
                ?? throw new ArgumentException("The batch transform returned null.", nameof(batchTransform));
        }

        if (!transformed.Sizes().AsSpan().SequenceEqual(batch.Sizes()))
        {
            throw new ArgumentException(
                $"The batch transform must keep the batch shape {Shapes.Format(batch.Sizes())}, got {Shapes.Format(transformed.Sizes())}.",
                nameof(batchTransform));
        }

        try
        {
            flow.ValidateInput(transformed, nameof(transformed));
        }
        catch (ArgumentException e)
        {
            var reason = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", string.Empty, StringComparison.Ordinal);
            throw new ArgumentException($"The batch transform returned an invalid batch: {reason}", nameof(batchTransform), e);
        }

        return transformed;
    }

    // The trainer's noise: the dequantization layer's own setting, with random u drawn from the trainer's generator
    // instead of TorchSharp's global one (null: no layer draws random u, so its own setting applies unchanged).
    private NoiseSource? DrawsFrom(Generator generator) =>
        flow.Dequantization is { AddsNoise: true } ? new GeneratorNoise(generator) : null;

    private static double Rate(int steps, int batchSize, Stopwatch clock) =>
        clock.Elapsed.TotalSeconds > 0 ? steps * (double)batchSize / clock.Elapsed.TotalSeconds : 0;
}
