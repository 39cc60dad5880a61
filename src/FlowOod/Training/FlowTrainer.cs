using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Training;

/// <summary>Trains a <see cref="NormalizingFlow"/> by maximum likelihood with Adam and gradient-norm clipping.</summary>
/// <remarks>
/// Each step draws a mini-batch without replacement (reshuffling every epoch with a generator seeded from
/// <see cref="TrainingOptions.Seed"/>), minimises the mean negative log-likelihood, clips the global gradient norm and
/// takes an Adam step. A non-finite loss or gradient stops training with a <see cref="TrainingDivergedException"/>
/// before the bad update is applied. Runs with the same seed, data and thread count are reproducible on the CPU.
/// Every step's tensors live in their own dispose scope. When <see cref="Train"/> returns or throws, the flow is in
/// evaluation mode.
/// </remarks>
public sealed class FlowTrainer
{
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
    /// <param name="progress">Receives a report every <see cref="TrainingOptions.ProgressInterval"/> steps and at the end.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>What the run did.</returns>
    /// <exception cref="ArgumentException">The data has the wrong shape, dtype or values.</exception>
    /// <exception cref="TrainingDivergedException">The loss or gradient became non-finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the model keeps the last completed step.</exception>
    public TrainingResult Train(Tensor data, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        flow.ValidateInput(data);
        var count = data.shape[0];
        var batchSize = (int)Math.Min(options.BatchSize, count);
        var parameters = flow.parameters().ToArray();
        var bitsScale = 1.0 / (flow.Dimensions * Math.Log(2));
        var discreteOffset = flow.DiscretizationLevels is { } levels ? Math.Log(levels) / Math.Log(2) : 0.0;

        random.manual_seed(options.Seed);
        using var shuffle = new Generator((ulong)options.Seed);
        using var optimizer = optim.Adam(parameters, lr: options.LearningRate, weight_decay: options.WeightDecay);
        Tensor? order = null;
        long cursor = count;
        var clock = Stopwatch.StartNew();
        double intervalLoss = 0;
        int intervalSteps = 0;
        double lastLoss = double.NaN;
        flow.train();
        try
        {
            for (int step = 1; step <= options.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (cursor + batchSize > count)
                {
                    order?.Dispose();
                    order = randperm(count, generator: shuffle, device: data.device);
                    cursor = 0;
                }

                double loss;
                using (var scope = NewDisposeScope())
                {
                    var batch = data.index_select(0, order!.narrow(0, cursor, batchSize));
                    cursor += batchSize;
                    optimizer.zero_grad();
                    var nll = flow.LogProbUnchecked(batch).mean().neg();
                    loss = nll.ToDouble();
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
                }

                intervalLoss += (loss * bitsScale) + discreteOffset;
                intervalSteps++;
                if (step % options.ProgressInterval == 0 || step == options.Steps)
                {
                    lastLoss = intervalLoss / intervalSteps;
                    intervalLoss = 0;
                    intervalSteps = 0;
                    progress?.Report(new TrainingProgress(step, options.Steps, lastLoss, step * (double)batchSize / clock.Elapsed.TotalSeconds, clock.Elapsed));
                }
            }
        }
        finally
        {
            order?.Dispose();
            flow.eval();
        }

        clock.Stop();
        return new TrainingResult(options.Steps, lastLoss, options.Steps * (double)batchSize / clock.Elapsed.TotalSeconds, clock.Elapsed);
    }
}
