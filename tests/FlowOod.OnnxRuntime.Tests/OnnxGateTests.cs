using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.Onnx;
using FlowOod.Tests.Shared;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// The fixture's feature gate exported with <see cref="OnnxExport.GateToBytes"/> and served by <see cref="OnnxGate"/>
/// (the ONNX classifier and the feature flow, ONNX Runtime alone): FlowOod's decisions, within 1e-4 nats.
/// </summary>
public sealed class OnnxGateTests(GateFixture fixture) : IClassFixture<GateFixture>
{
    [Fact]
    public void Classify_GivesTheGatesDecisions()
    {
        var gate = fixture.Gate;
        using var served = OnnxGate.Load(fixture.ModelA, Export());
        using var scope = NewDisposeScope();
        var batch = Batch();

        var expected = gate.Classify(batch);
        var actual = served.Classify(Values(batch));

        served.ClassNames.Should().Equal(gate.ClassNames);
        served.InputShape.Should().Equal(gate.InputShape);
        served.Threshold.Should().Be(gate.Threshold);
        served.TargetFalsePositiveRate.Should().Be(gate.TargetFalsePositiveRate);
        served.FeatureOutputName.Should().Be("embedding");
        actual.Should().HaveCount(expected.Length);
        actual.Select(d => d.Label).Should().Equal(expected.Select(d => d.Label));
        actual.Select(d => d.LabelName).Should().Equal(expected.Select(d => d.LabelName));
        DecisionAgreement.ShouldAgree(actual, expected, gate.Detector.CalibrationScores, "ONNX Runtime must give the gate's verdicts");
        // Within 1e-4 nats; the white images' scores can be astronomically large (up to ~10¹⁰ nats), where float32's
        // rounding alone exceeds 1 nat, so those are compared relatively (1e-6).
        var pairs = actual.Zip(expected, (a, e) => (Served: a.Score, FlowOod: e.Score)).ToArray();
        pairs.Should().OnlyContain(p => Math.Abs(p.Served - p.FlowOod) <= Math.Max(1e-4, 1e-6 * Math.Abs(p.FlowOod)));
        pairs.Count(p => Math.Abs(p.FlowOod) < 100).Should().BeGreaterThan(350, "the in-distribution scores are compared within 1e-4 nats");
        actual.Zip(expected, (a, e) => a.Probabilities.Zip(e.Probabilities, (p, q) => Math.Abs(p - q)).Max()).Max().Should().BeLessThan(1e-5f);
        actual.Count(d => d.IsOutOfDistribution).Should().BeInRange(50, 120, "the 50 white images are refused, about 5% of the 400 in-distribution ones");
        served.ClassifyOne(Values(batch)[..16]).Should().Be(actual[0]);
    }

    [Fact]
    public void Classify_FeaturesFarOutsideTheFittedRange_AreRefusedByBoth()
    {
        // Uniform noise drives some features of the dark-image classifier beyond ±10⁶ standard deviations: FlowOod's gate
        // refuses such a batch, and so does the served one.
        using var served = OnnxGate.Load(fixture.ModelA, Export());
        using var scope = NewDisposeScope();
        var noise = rand(new long[] { 100, 1, 4, 4 }, generator: new Generator(12));

        fixture.Gate.Invoking(g => g.Classify(noise)).Should().Throw<ArgumentException>();
        served.Invoking(g => g.Classify(Values(noise))).Should().Throw<ArgumentException>().WithMessage("*standard deviations*").Which.ParamName.Should().Be("inputs");
    }

    [Fact]
    public void Load_FeatureValueIsNoGraphOutput_ExposesIt()
    {
        using var scope = NewDisposeScope();
        var inputs = Values(Batch());
        using var withOutput = OnnxGate.Load(fixture.ModelA, Export());
        using var innerValue = OnnxGate.Load(fixture.TwinA.Onnx(embeddingOutput: false), Export());

        innerValue.Classify(inputs).Should().Equal(withOutput.Classify(inputs));
    }

    [Fact]
    public void Classify_ClassifierWithABatchOfOne_RunsInputByInput()
    {
        using var scope = NewDisposeScope();
        var inputs = Values(Batch());
        using var symbolic = OnnxGate.Load(fixture.ModelA, Export());
        using var single = OnnxGate.Load(fixture.TwinA.Onnx(embeddingOutput: true, batch: 1), Export());

        var expected = symbolic.Classify(inputs);
        var actual = single.Classify(inputs);

        actual.Select(d => d.Label).Should().Equal(expected.Select(d => d.Label));
        DecisionAgreement.ShouldAgree(actual, expected, fixture.Gate.Detector.CalibrationScores, "the same gate at batch 1 and at any batch");
        actual.Zip(expected, (a, e) => Math.Abs(a.Score - e.Score) <= Math.Max(1e-4, 1e-6 * Math.Abs(e.Score))).Should().AllSatisfy(ok => ok.Should().BeTrue());
    }

    [Fact]
    public void Classify_FromManyThreads_GivesTheSerialDecisions()
    {
        using var served = OnnxGate.Load(fixture.ModelA, Export());
        using var scope = NewDisposeScope();
        var inputs = Values(Batch());
        var expected = served.Classify(inputs);

        var results = new OnnxGateDecision[12][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = served.Classify(inputs));

        results.Should().AllSatisfy(r => r.Should().Equal(expected));
    }

    [Fact]
    public void BadInputAndFiles_AreRefusedWithTheReason()
    {
        var gateBytes = Export();
        using var served = OnnxGate.Load(fixture.ModelA, gateBytes);

        served.Invoking(g => g.Classify(new float[17])).Should().Throw<ArgumentException>().WithMessage("*16 values each*17*").Which.ParamName.Should().Be("inputs");
        served.Invoking(g => g.Classify([])).Should().Throw<ArgumentException>().Which.ParamName.Should().Be("inputs");
        var nan = new float[32];
        nan[20] = float.PositiveInfinity;
        served.Invoking(g => g.Classify(nan)).Should().Throw<ArgumentException>().WithMessage("*NaN or infinite*input 1*");
        served.Invoking(g => g.ClassifyOne(new float[32])).Should().Throw<ArgumentException>().WithMessage("*Classify for a batch*").Which.ParamName.Should().Be("input");
        FluentActions.Invoking(() => OnnxGate.Load(fixture.ModelA, gateBytes, new OnnxGateOptions { FeatureOutputName = "nowhere" }))
            .Should().Throw<ArgumentException>().WithMessage("*no feature output 'nowhere'*hidden*");
        FluentActions.Invoking(() => OnnxFlowModel.Load(gateBytes)).Should().Throw<ArgumentException>().WithMessage("*OnnxGate.Load*");
        using (var flow = Models.TabularRealNvp.Create(4, new Models.TabularRealNvpOptions { Couplings = 1, HiddenWidth = 4 }))
        {
            flow.eval();
            FluentActions.Invoking(() => OnnxGate.Load(fixture.ModelA, OnnxExport.ToBytes(flow)))
                .Should().Throw<ArgumentException>().WithMessage("*flow, not a gate*").Which.ParamName.Should().Be("gateModel");
        }

        FluentActions.Invoking(() => OnnxGate.Load([1, 2, 3], gateBytes)).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => OnnxExport.GateToBytes(fixture.Gate.Detector, fixture.Gate.InputShape, ["only"], "embedding"))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("classNames");
        served.Dispose();
        served.Invoking(g => g.Classify(new float[16])).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void SavedGateFile_ReadWithoutItsClassifier_ExportsTheSameGate()
    {
        var folder = Directory.CreateTempSubdirectory("flowood-onnx-gate-file-").FullName;
        try
        {
            var path = Path.Combine(folder, "gate.flowood");
            fixture.Gate.Save(path);
            using var saved = SavedGate.Read(path);
            using var fromFile = OnnxGate.Load(fixture.ModelA, OnnxExport.GateToBytes(saved.Detector, saved.InputShape, saved.ClassNames, "embedding"));
            using var fromGate = OnnxGate.Load(fixture.ModelA, Export());
            using var scope = NewDisposeScope();
            var values = Values(Batch());

            saved.IsFeatureGate.Should().BeTrue();
            saved.FeatureName.Should().Be(OnnxClassifier.FeatureLayer);
            saved.InputShape.Should().Equal(fixture.Gate.InputShape);
            saved.ClassNames.Should().Equal(fixture.Gate.ClassNames);
            fromFile.Threshold.Should().Be(fixture.Gate.Threshold);
            fromFile.Classify(values).Select(d => (d.Label, d.IsOutOfDistribution, d.Score, d.PValue)).Should().Equal(fromGate.Classify(values).Select(d => (d.Label, d.IsOutOfDistribution, d.Score, d.PValue)));
            saved.Detector.Scorer.Invoking(s => s.Score(fixture.Test)).Should().Throw<ArgumentException>().WithMessage("*without its classifier*");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private byte[] Export() => OnnxExport.GateToBytes(fixture.Gate.Detector, fixture.Gate.InputShape, fixture.Gate.ClassNames, "embedding");

    // 450 inputs [N, 1, 4, 4]: held-out in-distribution, white images and more in-distribution ones.
    private Tensor Batch() => cat([fixture.Test, fixture.Ood, TwinMlp.Data(200, seed: 11)], 0);

    private static float[] Values(Tensor batch) => batch.contiguous().data<float>().ToArray();
}
