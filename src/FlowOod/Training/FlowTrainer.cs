using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FlowOod.Bijectors;
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
/// <see cref="Scoring.PixelPerturbation"/> of a likelihood-ratio background model.
/// </remarks>
public sealed class FlowTrainer
{
    private const int EvaluationChunk = 256;

    // Keeps the evaluation noise apart from the training noise, which is seeded with Seed itself.
    private const ulong EvaluationSeedSalt = 0xD1B54A32D192ED03;
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
        flow.ValidateInput(data);
        if (evaluationData is not null)
        {
            flow.ValidateInput(evaluationData);
        }

        var count = data.shape[0];
        var batchSize = (int)Math.Min(options.BatchSize, count);
        var totalSteps = options.Epochs is { } epochs
            ? (int)Math.Min(int.MaxValue, ((epochs * count) + batchSize - 1) / batchSize)
            : options.Steps;
        var parameters = flow.parameters().ToArray();

        using var shuffle = new Generator((ulong)options.Seed);
        using var noise = new Generator((ulong)options.Seed, data.device);
        using OptimizerHelper optimizer = options.Optimizer == OptimizerKind.RmsProp
            ? optim.RMSProp(parameters, lr: options.LearningRate, weight_decay: options.WeightDecay)
            : optim.Adam(parameters, lr: options.LearningRate, weight_decay: options.WeightDecay);
        Tensor? order = null;
        long cursor = count;
        var clock = new Stopwatch();
        double intervalLoss = 0;
        int intervalSteps = 0;
        double lastLoss = double.NaN;
        double? evaluationLoss = null;
        try
        {
            for (int step = 1; step <= totalSteps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                clock.Start();
                flow.train();
                if (cursor + batchSize > count)
                {
                    order?.Dispose();
                    order = randperm(count, generator: shuffle, device: data.device);
                    cursor = 0;
                }

                using (NoiseContext.Use(noise))
                {
                    intervalLoss += Step(data, order!.narrow(0, cursor, batchSize), batchTransform, optimizer, parameters, step);
                }

                cursor += batchSize;
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
                    }

                    intervalLoss = 0;
                    intervalSteps = 0;
                    progress?.Report(new TrainingProgress(step, totalSteps, lastLoss, Rate(step, batchSize, clock), clock.Elapsed, evaluated));
                }
            }
        }
        finally
        {
            order?.Dispose();
            flow.eval();
        }

        return new TrainingResult(totalSteps, lastLoss, Rate(totalSteps, batchSize, clock), clock.Elapsed, evaluationLoss);
    }

    /// <summary>The mean loss of <paramref name="data"/> in bits/dim, in evaluation mode without gradients.</summary>
    /// <remarks>Dequantization noise comes from a generator seeded afresh from <see cref="TrainingOptions.Seed"/> at every
    /// call, so the same data gives the same loss, and evaluating does not change the training noise.</remarks>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values.</exception>
    public double MeanLoss(Tensor data)
    {
        ArgumentNullException.ThrowIfNull(data);
        flow.ValidateInput(data);
        var wasTraining = flow.training;
        flow.eval();
        try
        {
            using var inference = inference_mode();
            using var noise = new Generator(unchecked((ulong)options.Seed ^ EvaluationSeedSalt), data.device);
            using var noiseScope = NoiseContext.Use(noise);
            double sum = 0;
            var count = data.shape[0];
            for (long start = 0; start < count; start += EvaluationChunk)
            {
                using var scope = NewDisposeScope();
                var chunk = data.narrow(0, start, Math.Min(EvaluationChunk, count - start));
                sum += flow.ToBitsPerDim(flow.LogProbUnchecked(chunk)).sum().ToDouble();
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

    private double Step(
        Tensor data, Tensor indices, Func<Tensor, Tensor>? batchTransform, OptimizerHelper optimizer, Parameter[] parameters, int step)
    {
        using var scope = NewDisposeScope();
        var batch = data.index_select(0, indices);
        if (batchTransform is not null)
        {
            batch = Transform(batch, batchTransform);
        }

        if (step == 1 && flow.modules().OfType<ActNorm>().Any(layer => !layer.IsInitialized))
        {
            ActNorm.InitializeAll(flow, batch);
        }

        optimizer.zero_grad();
        var nll = flow.LogProbUnchecked(batch).mean().neg();
        var loss = nll.ToDouble();
        if (!double.IsFinite(loss))
        {
            throw new TrainingDivergedException(step, loss, double.NaN);
        }

        nll.backward();
        var gradientNorm = nn.utils.clip_grad_norm_(parameters, options.MaxGradNorm);
        if (!double.IsFinite(gradientNorm))
        {
            throw new TrainingDivergedException(step, loss, gradientNorm);
        }

        optimizer.step();
        return flow.ToBitsPerDim(-loss);
    }

    private Tensor Transform(Tensor batch, Func<Tensor, Tensor> batchTransform)
    {
        Tensor transformed;
        using (no_grad())
        {
            transformed = batchTransform(batch)
                ?? throw new ArgumentException("The batch transform returned null.", nameof(batchTransform));
        }

        if (!transformed.shape.AsSpan().SequenceEqual(batch.shape))
        {
            throw new ArgumentException(
                $"The batch transform must keep the batch shape {Shapes.Format(batch.shape)}, got {Shapes.Format(transformed.shape)}.",
                nameof(batchTransform));
        }

        try
        {
            flow.ValidateInput(transformed);
        }
        catch (ArgumentException e)
        {
            var reason = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", string.Empty, StringComparison.Ordinal);
            throw new ArgumentException($"The batch transform returned an invalid batch: {reason}", nameof(batchTransform), e);
        }

        return transformed;
    }

    private static double Rate(int steps, int batchSize, Stopwatch clock) =>
        clock.Elapsed.TotalSeconds > 0 ? steps * (double)batchSize / clock.Elapsed.TotalSeconds : 0;
}
