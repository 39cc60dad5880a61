using System;
using System.Collections.Generic;
using System.Threading;
using FlowOod.Models;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

// Fitting a feature-space scorer: the features of the training set, the standardiser fitted on them, the flow trained on
// the standardised features.
public sealed partial class FeatureSpaceScorer
{
    private static FeatureSpaceScorer FitCore(
        Func<Tensor, Tensor> extractor,
        nn.Module<Tensor, Tensor>? extractorModule,
        string extractorName,
        Tensor inDistributionTrain,
        FeatureSpaceFitOptions? options,
        CancellationToken cancellationToken,
        IProgress<ScoringProgress>? extraction = null,
        IProgress<TrainingProgress>? trainingProgress = null)
    {
        const int chunkSize = 256;
        var count = ValidateBatch(inDistributionTrain, nameof(inDistributionTrain));
        options ??= new FeatureSpaceFitOptions();
        options.Validate();

        var (standardizer, training) = ExtractAndStandardize(
            extractor, extractorModule, extractorName, inDistributionTrain, count, chunkSize, options.Device, cancellationToken, extraction);
        using (training)
        {
            var flow = TabularRealNvp.Create(standardizer.FeatureDimension, options.Flow, options.Device);
            try
            {
                new FlowTrainer(flow, options.Training).Train(training, progress: trainingProgress, cancellationToken: cancellationToken);
            }
            catch
            {
                flow.Dispose();
                throw;
            }

            return new FeatureSpaceScorer(extractor, extractorModule, flow, standardizer, chunkSize, extractorName, ownsFlow: true);
        }
    }

    // Features of the whole training set, chunk by chunk; the standardiser fitted on them; and the standardised features
    // as a float32 tensor on the flow's device (owned by the caller).
    private static (FeatureStandardizer Standardizer, Tensor Training) ExtractAndStandardize(
        Func<Tensor, Tensor> extractor,
        nn.Module<Tensor, Tensor>? extractorModule,
        string extractorName,
        Tensor inDistributionTrain,
        long count,
        int chunkSize,
        Device? device,
        CancellationToken cancellationToken,
        IProgress<ScoringProgress>? progress)
    {
        using var scope = NewDisposeScope();
        var chunks = new List<Tensor>();
        EnsureEvaluationMode(extractorModule, extractorName);
        using (var inference = inference_mode())
        {
            int? dimension = null;
            progress?.Report(new ScoringProgress(0, count));
            for (long start = 0; start < count; start += chunkSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var chunkScope = NewDisposeScope();
                var chunk = inDistributionTrain.narrow(0, start, Math.Min(chunkSize, count - start));
                var features = Extract(extractor, extractorName, chunk, dimension, nameof(inDistributionTrain));
                dimension ??= (int)features.size(1);
                chunks.Add(chunkScope.MoveToOuter(features.to(ScalarType.Float64, CPU)));
                progress?.Report(new ScoringProgress(start + chunk.size(0), count));
            }
        }

        // Outside inference mode: the training data must be an ordinary tensor.
        var all = cat(chunks, 0);
        if (all.size(1) < 2)
        {
            throw new ArgumentException(
                $"The feature extractor '{extractorName}' returned {all.size(1)} feature per input; a coupling flow needs at least 2.",
                nameof(inDistributionTrain));
        }

        var standardizer = FeatureStandardizer.Fit(all);
        var training = standardizer.Apply(all).to(ScalarType.Float32, device ?? CPU);
        return (standardizer, scope.MoveToOuter(training));
    }
}
