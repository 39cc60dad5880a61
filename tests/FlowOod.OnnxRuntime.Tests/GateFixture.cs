using System;
using System.Diagnostics;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>Two ONNX twins (other weights) and a gate fitted on the first's "features" layer, shared by the gate tests.</summary>
public sealed class GateFixture : IDisposable
{
    public const int FitInputs = 400;

    public GateFixture()
    {
        TwinA = TwinMlp.Train(seed: 1);
        TwinB = TwinMlp.Train(seed: 2);
        ModelA = TwinA.Onnx(embeddingOutput: true);
        ModelB = TwinB.Onnx(embeddingOutput: true);
        ClassifierA = LoadA();
        InDistribution = TwinMlp.Data(FitInputs, seed: 3);
        Test = TwinMlp.Data(200, seed: 4);
        Ood = ones([50, 1, 4, 4]);
        var watch = Stopwatch.StartNew();
        Gate = OodGate.Fit(ClassifierA, InDistribution, Options(OnnxClassifier.FeatureLayer));
        FitSeconds = watch.Elapsed.TotalSeconds;
    }

    internal TwinMlp TwinA { get; }

    internal TwinMlp TwinB { get; }

    public byte[] ModelA { get; }

    public byte[] ModelB { get; }

    public OnnxClassifier ClassifierA { get; }

    public Tensor InDistribution { get; }

    /// <summary>Held-out in-distribution inputs [200, 1, 4, 4].</summary>
    public Tensor Test { get; }

    /// <summary>White images [50, 1, 4, 4], far outside the dark training images.</summary>
    public Tensor Ood { get; }

    public OodGate Gate { get; }

    public double FitSeconds { get; }

    public static OodGateOptions Options(string featureLayer) => new()
    {
        FeatureLayer = featureLayer,
        TargetFalsePositiveRate = 0.05,
        ClassNames = ["a", "b", "c"],
        Seed = 5,
        FeatureFlow = new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 16 },
            Training = new TrainingOptions { Steps = 60, BatchSize = 64, Seed = 1 },
        },
    };

    public OnnxClassifier LoadA() => OnnxClassifier.Load(ModelA, new OnnxClassifierOptions { FeatureOutputName = "embedding" });

    public OnnxClassifier LoadB() => OnnxClassifier.Load(ModelB, new OnnxClassifierOptions { FeatureOutputName = "embedding" });

    public void Dispose()
    {
        Gate.Dispose();
        ClassifierA.Dispose();
        TwinA.Dispose();
        TwinB.Dispose();
        InDistribution.Dispose();
        Test.Dispose();
        Ood.Dispose();
    }
}
