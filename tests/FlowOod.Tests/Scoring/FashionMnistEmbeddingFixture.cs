using System;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Samples.FashionMnist;
using FlowOod.Scoring;
using FlowOod.Training;

namespace FlowOod.Tests.Scoring;

// Trained once per test class (~8 s single-threaded): a SmallClassifier with a 32-dim embedding trained for 300 Adam
// steps on the first 5,000 Fashion-MNIST training images, and a feature-space scorer (4-coupling tabular RealNVP,
// 400 steps) fitted on the embeddings of the same images. Training images from index 50,000 on are never used here,
// so they can serve as held-out in-distribution data.
public sealed class FashionMnistEmbeddingFixture : IDisposable
{
    public const int TrainCount = 5000;
    public const long Seed = 1;

    public FashionMnistEmbeddingFixture()
    {
        FlowOodRuntime.EnsureAvailable();
        Train = FlowOodDatasets.FashionMnist(DatasetSplit.Train);
        FashionTest = FlowOodDatasets.FashionMnist(DatasetSplit.Test);
        Mnist = FlowOodDatasets.Mnist(DatasetSplit.Test);
        (Classifier, ClassifierLoss) = SmallClassifier.Train(
            Train, TrainCount, embeddingSize: 32, steps: 300, batchSize: 64, learningRate: 2e-3, Seed, default);
        using var images = Train.ToTensor(0, TrainCount);
        Scorer = FeatureSpaceScorer.Fit(
            Classifier.Embedding,
            images,
            new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 64 },
                Training = new TrainingOptions { Steps = 400, BatchSize = 128, LearningRate = 1e-3, Seed = Seed },
            });
    }

    public ImageDataset Train { get; }

    public ImageDataset FashionTest { get; }

    public ImageDataset Mnist { get; }

    public SmallClassifier Classifier { get; }

    public double ClassifierLoss { get; }

    public FeatureSpaceScorer Scorer { get; }

    public void Dispose()
    {
        Scorer.Flow.Dispose();
        Classifier.Dispose();
    }
}
