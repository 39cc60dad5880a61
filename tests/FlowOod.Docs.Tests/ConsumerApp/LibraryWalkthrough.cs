using System;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Embeddings;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace Walkthrough;

/// <summary>
/// README.md's first two ways in as a library: a tiny flow scores a tensor; a TorchSharp classifier behind a gate and
/// embedding rows behind an EmbeddingDetector, each saved and reloaded.
/// </summary>
internal static class LibraryWalkthrough
{
    public static void Run()
    {
        using (var flow = TabularRealNvp.Create(2))
        using (var scorer = new NegativeLogLikelihoodScorer(flow))
        using (var x = torch.randn(4, 2))
        {
            double[] scores = scorer.Score(x);
            Console.WriteLine($"scored {scores.Length} inputs, first {scores[0]:F3}");
        }

        torch.random.manual_seed(1);
        var classifier = nn.Sequential(("flatten", nn.Flatten()), ("embed", nn.Linear(16, 6)), ("relu", nn.ReLU()), ("head", nn.Linear(6, 3)));
        classifier.eval();
        using (var images = torch.rand(300, 1, 4, 4))
        using (var gate = OodGate.Fit(classifier, images, new OodGateOptions { FeatureLayer = "embed", TargetFalsePositiveRate = 0.1, FeatureFlow = Walk.ShortFit }))
        {
            gate.Save("gate.flowood");
            using var loaded = OodGate.Load("gate.flowood", classifier);
            GateDecision d = loaded.Classify(images)[0];
            bool same = loaded.Classify(images).SequenceEqual(gate.Classify(images));
            Console.WriteLine($"gate: label {d.Label}, p = {d.PValue:F3}, reloaded identical {same}");
        }

        var random = new Random(1);
        float[][] rows = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        using (var detector = EmbeddingDetector.Fit(rows, new EmbeddingDetectorOptions { TargetFalsePositiveRate = 0.1, FeatureFlow = Walk.ShortFit }))
        {
            detector.Save("embeddings.flowood");
            using var loaded = EmbeddingDetector.Load("embeddings.flowood");
            OodPrediction near = loaded.PredictOne(rows[0]);
            OodPrediction far = loaded.PredictOne(new float[] { 40f, -40f, 40f, -40f });
            Console.WriteLine($"embeddings: in-distribution row OOD {near.IsOutOfDistribution}, far row OOD {far.IsOutOfDistribution}");
        }
    }
}
