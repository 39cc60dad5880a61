using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

public sealed class GateTests(GateFixture fixture, ITestOutputHelper output) : IClassFixture<GateFixture>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-onnx-gate-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Fit_OnTheFeaturesLayer_AcceptsInDistribution_RefusesOod()
    {
        var gate = fixture.Gate;

        var inDistribution = gate.Classify(fixture.Test);
        var ood = gate.Classify(fixture.Ood);

        gate.FeatureLayer.Should().Be(OnnxClassifier.FeatureLayer);
        gate.ClassCount.Should().Be(3);
        gate.InputShape.Should().Equal(1, 4, 4);
        inDistribution.Count(d => !d.IsOutOfDistribution).Should().BeGreaterThan(170, "about 95% of in-distribution inputs pass at α = 0.05");
        ood.Should().OnlyContain(d => d.IsOutOfDistribution);
    }

    [Fact]
    public void Fit_CapturesTheEmbedding_TheTorchSharpTwinsTrunkScoresAlike()
    {
        // The gate's flow and standardiser over the TorchSharp twin's trunk (Flatten → fc1 → ReLU: the embedding) give
        // the gate's scores, up to the ~1e-6 (relative) differences between ONNX Runtime's and libtorch's arithmetic.
        var fitted = (FeatureSpaceScorer)fixture.Gate.Detector.Scorer;
        using var overTwin = new FeatureSpaceScorer(fixture.TwinA.Trunk, fitted.Flow, fitted.Standardizer);

        var gate = fixture.Gate.Classify(fixture.Test);
        var twin = overTwin.Score(fixture.Test);

        fitted.FeatureDimension.Should().Be(8);
        for (int i = 0; i < gate.Length; i++)
        {
            // Relative too: a ReLU unit that is almost always 0 in the training features has a tiny standard deviation,
            // so a rare input where it fires scores ~1e10 nats.
            gate[i].Score.Should().BeApproximately(twin[i], 1e-3 + (1e-5 * Math.Abs(twin[i])), "input {0}", i);
        }
    }

    [Fact]
    public void SaveLoad_WithTheSameOnnxModel_GivesBitIdenticalDecisions()
    {
        var path = Path.Combine(folder, "gate.flowood");
        fixture.Gate.Save(path);
        using var classifier = fixture.LoadA();

        using var loaded = OodGate.Load(path, classifier);

        loaded.ClassifierFingerprint.Should().Be(fixture.Gate.ClassifierFingerprint);
        loaded.Classify(fixture.Test).Should().Equal(fixture.Gate.Classify(fixture.Test));
        loaded.Classify(fixture.Ood).Should().Equal(fixture.Gate.Classify(fixture.Ood));
    }

    [Fact]
    public void Load_WithAnotherOnnxModel_ThrowsGateMismatch()
    {
        var path = Path.Combine(folder, "gate.flowood");
        fixture.Gate.Save(path);
        using var other = fixture.LoadB();

        var load = () => OodGate.Load(path, other);

        load.Should().Throw<GateMismatchException>().WithMessage($"*{OnnxClassifier.FingerprintBuffer}*");
    }

    [Fact]
    public async Task Classify_From8Threads_GivesTheSerialAnswers()
    {
        var expected = fixture.Gate.Classify(fixture.Test);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            var answers = new GateDecision[5][];
            for (int round = 0; round < answers.Length; round++)
            {
                using var scope = NewDisposeScope();
                answers[round] = fixture.Gate.Classify(fixture.Test);
            }

            return answers;
        }, TestContext.Current.CancellationToken)));

        results.SelectMany(r => r).Should().AllSatisfy(answer => answer.Should().Equal(expected));
    }

    [Fact]
    public void Timing_FitAndClassify_AreReported_ForTheOnnxClassifierAndItsTorchSharpTwin()
    {
        using var inputs = TwinMlp.Data(1000, seed: 11);
        var onnx = Measure(fixture.ClassifierA, OnnxClassifier.FeatureLayer, inputs);
        var torchSharp = Measure(fixture.TwinA.Model, "trunk", inputs);

        output.WriteLine($"ONNX Runtime {Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString()}, {Environment.ProcessorCount} cores; "
            + $"first OodGate.Fit in the process (fixture) {fixture.FitSeconds:F2} s");
        output.WriteLine($"OnnxClassifier: {onnx}");
        output.WriteLine($"TorchSharp twin: {torchSharp}");
    }

    // OodGate.Fit on the fixture's 400 inputs (warm), Classify of 1000 inputs, ClassifyOne: the median of 101 calls.
    private string Measure(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> classifier, string layer, TorchSharp.torch.Tensor inputs)
    {
        var watch = Stopwatch.StartNew();
        using var gate = OodGate.Fit(classifier, fixture.InDistribution, GateFixture.Options(layer));
        var fitSeconds = watch.Elapsed.TotalSeconds;
        gate.Classify(fixture.Test); // warm
        // Best of 3 and the median single call: the machine is shared, and a loaded host only ever adds time.
        GateDecision[] decisions = [];
        var batchMs = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            watch.Restart();
            decisions = gate.Classify(inputs);
            batchMs = Math.Min(batchMs, watch.Elapsed.TotalMilliseconds);
        }

        var singles = new double[101];
        for (int i = 0; i < singles.Length; i++)
        {
            using var scope = NewDisposeScope();
            watch.Restart();
            gate.ClassifyOne(inputs[i]);
            singles[i] = watch.Elapsed.TotalMilliseconds;
        }

        Array.Sort(singles);
        var singleMs = singles[singles.Length / 2];
        decisions.Should().HaveCount(1000);
        return $"OodGate.Fit (400 inputs, 60 flow steps) {fitSeconds:F2} s; Classify 1000 inputs {batchMs:F1} ms (best of 3; {batchMs:F1} µs per input); ClassifyOne {singleMs:F3} ms (median)";
    }
}
