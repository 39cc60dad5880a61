using System;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

// OodGate.Fit: checks, the random split, the feature flow trained on the training part through the gate's own feature
// path, and the detector calibrated on the held-out part through the gate's fixed-size chunks.
internal static class GateFitting
{
    // The arguments are not null (OodGate.Fit checked); messages name OodGate.Fit's parameters.
    public static OodGate Fit(
        nn.Module<Tensor, Tensor> classifier,
        Tensor inDistribution,
        OodGateOptions options,
        IProgress<GateFitProgress>? progress,
        CancellationToken cancellationToken)
    {
        options.Validate();
        GateChecks.EnsureEvaluationMode(classifier);
        var shape = GateChecks.ValidateData(inDistribution, nameof(inDistribution));
        if (GateChecks.InputSizeProblem(shape, options.ChunkSize) is { } tooLarge)
        {
            throw new ArgumentException($"The inputs' shape {Shapes.Format(shape)} {tooLarge}.", nameof(inDistribution));
        }

        var count = inDistribution.size(0);
        var calibrationCount = CalibrationSplit.CalibrationCount(count, options.CalibrationFraction, options.TargetFalsePositiveRate, "in-distribution inputs", nameof(inDistribution));

        var source = options.FeatureLayer is not null ? FeatureSource.Layer : FeatureSource.Extractor;
        var name = options.FeatureLayer ?? options.FeatureExtractorName ?? $"{options.FeatureExtractor!.Method.DeclaringType?.Name}.{options.FeatureExtractor.Method.Name}";
        var gate = new OodGate(
            classifier, shape, options.ClassNames, source, name, options.FeatureExtractor, options.ChunkSize, options.Device, fingerprint: null);
        try
        {
            var (trainIndices, calibrationIndices) = CalibrationSplit.Split(count, calibrationCount, options.Seed);
            FeatureSpaceScorer scorer;
            double[] calibrationScores;
            using (var scope = NewDisposeScope())
            {
                var train = inDistribution.index_select(0, tensor(trainIndices, device: inDistribution.device));
                var calibration = inDistribution.index_select(0, tensor(calibrationIndices, device: inDistribution.device));
                Func<Tensor, Tensor> features = source == FeatureSource.Layer ? gate.LayerFeatures : options.FeatureExtractor!;
                var scorerName = source == FeatureSource.Layer ? $"classifier layer '{name}'" : name;
                scorer = FeatureSpaceScorer.FitNamed(
                    features,
                    scorerName,
                    train,
                    options.FeatureFlow,
                    cancellationToken,
                    progress is null ? null : new MappedProgress<ScoringProgress, GateFitProgress>(
                        progress, p => new GateFitProgress(GateFitPhase.ExtractingFeatures, p.Done, p.Total)),
                    progress is null ? null : new MappedProgress<Training.TrainingProgress, GateFitProgress>(
                        progress, p => new GateFitProgress(GateFitPhase.TrainingFlow, p.Step, p.TotalSteps) { Training = p }));
                try
                {
                    gate.Evaluator.FeatureScorer = scorer;
                    calibrationScores = gate.Evaluator.Run(calibration, nameof(inDistribution), cancellationToken, progress).Scores;
                }
                catch
                {
                    scorer.Dispose();
                    throw;
                }
            }

            OodDetector calibrated;
            try
            {
                calibrated = new OodDetector(scorer, options.TargetFalsePositiveRate, calibrationScores, ownsScorer: true);
            }
            catch
            {
                scorer.Dispose();
                throw;
            }

            gate.Attach(calibrated, owns: true);
            return gate;
        }
        catch
        {
            gate.Dispose();
            throw;
        }
    }
}
