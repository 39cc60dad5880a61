using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

public sealed class OodGateTests(FittedGateFixture fixture) : IClassFixture<FittedGateFixture>
{
    private static readonly global::FlowOod.Scoring.FeatureSpaceFitOptions Quick =
        GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 3, BatchSize = 30 } };

    private OodGate Gate => fixture.Gate;

    [Fact]
    public void Fit_DescribesTheGate()
    {
        Gate.InputShape.Should().Equal(GateTestModels.InputShape);
        Gate.ClassCount.Should().Be(3);
        Gate.ClassNames.Should().Equal("top", "middle", "bottom");
        Gate.FeatureLayer.Should().Be("fc1");
        Gate.FeatureExtractorName.Should().BeNull();
        Gate.TargetFalsePositiveRate.Should().Be(0.1);
        Gate.ChunkSize.Should().Be(OodGate.DefaultChunkSize);
        Gate.Detector.CalibrationScores.Should().HaveCount(200, "half of the 400 inputs calibrate");
        Gate.Threshold.Should().Be(Gate.Detector.Threshold);
        Gate.ClassifierFingerprint.Should().Be(ClassifierFingerprint.Of(fixture.Classifier));
        Gate.ClassifierFingerprint.Parameters.Should().StartWith("conv1.weight:float32[4, 1, 3, 3]");
        Gate.ClassifierFingerprint.Sha256.Should().MatchRegex("^[0-9a-f]{64}$");
    }

    [Fact]
    public void Classify_AcceptsMostInDistributionInputs_AndRefusesShiftedOnes()
    {
        using var scope = NewDisposeScope();
        var fresh = GateTestModels.InDistribution(300, seed: 42);
        var inDistribution = Gate.Classify(fresh);
        var noise = Gate.Classify(GateTestModels.Noise(300, seed: 43));
        var inverted = Gate.Classify(fresh.neg().Plus(1));

        var falsePositiveRate = inDistribution.Count(d => d.IsOutOfDistribution) / 300.0;
        falsePositiveRate.Should().BeLessThan(0.2, "α = 0.1, and 300 fresh in-distribution inputs give a rate within a few points of it");
        noise.Count(d => d.IsOutOfDistribution).Should().BeGreaterThan(270, "uniform noise is far from the training images");
        inverted.Count(d => d.IsOutOfDistribution).Should().BeGreaterThan(270, "inverted images are far from the training images");
        foreach (var decision in inDistribution.Concat(noise))
        {
            decision.Probabilities.Should().HaveCount(3);
            decision.Probabilities.Sum().Should().BeApproximately(1f, 1e-5f);
            decision.Label.Should().Be(Array.IndexOf(decision.Probabilities.ToArray(), decision.Probabilities.Max()));
            decision.LabelName.Should().Be(Gate.ClassNames[decision.Label]);
            decision.Threshold.Should().Be(Gate.Threshold);
            decision.IsOutOfDistribution.Should().Be(decision.Score > Gate.Threshold);
            decision.PValue.Should().Be(Gate.Detector.PValue(decision.Score));
        }
    }

    [Fact]
    public void Classify_GivesTheCalibrationScoresBack_ForTheCalibrationInputs()
    {
        // Calibration runs through the same fixed-size chunks, so the held-out inputs get exactly their calibration scores.
        var scores = Gate.Classify(fixture.Training).Select(d => d.Score).ToHashSet();
        Gate.Detector.CalibrationScores.Should().OnlyContain(s => scores.Contains(s));
    }

    [Fact]
    public void BatchAndSingleCalls_AgreeBitForBit_InAnyOrderAndSplit()
    {
        using var scope = NewDisposeScope();
        var inputs = cat([GateTestModels.InDistribution(25, seed: 5), GateTestModels.Noise(12, seed: 6)], 0);
        var batch = Gate.Classify(inputs);
        batch.Should().HaveCount(37);

        var singles = Enumerable.Range(0, 37).Select(i => Gate.ClassifyOne(inputs[i])).ToArray();
        var reversedOrder = Enumerable.Range(0, 37).Reverse().ToArray();
        var reversed = Gate.Classify(inputs.index_select(0, tensor(reversedOrder))).Reverse().ToArray();
        var split = new[] { (0, 5), (5, 13), (18, 19) }.SelectMany(p => Gate.Classify(inputs.narrow(0, p.Item1, p.Item2))).ToArray();

        Enumerable.Range(0, 37).Where(i => !GateTestModels.SameBits(batch[i], singles[i])).Should().BeEmpty("a single input must get its batch answer");
        Enumerable.Range(0, 37).Where(i => !GateTestModels.SameBits(batch[i], reversed[i])).Should().BeEmpty("order must not matter");
        Enumerable.Range(0, 37).Where(i => !GateTestModels.SameBits(batch[i], split[i])).Should().BeEmpty("the batch split must not matter");
        batch.Should().Equal(singles);
    }

    [Fact]
    public void Classify_GivesTheSameBits_WhereverTheBatchLiesInMemory()
    {
        // A classifier whose first layer is a matrix product reads the caller's memory directly, and libtorch's CPU GEMM
        // (MKL) may round the last bit differently when that memory is not 16-byte aligned: a float[] wrapped by
        // torch.tensor, or a view at an odd offset. Seen on our build machine as an HTTP answer (the service's input
        // comes from a float[]) one float32 step away from OodGate.Classify of the same values.
        using var scope = NewDisposeScope();
        using var classifier = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(64, 8)), ("relu", nn.ReLU()), ("fc2", nn.Linear(8, 3)));
        GateTestModels.Reinitialize(classifier, seed: 13);
        classifier.eval();
        using var gate = OodGate.Fit(classifier, GateTestModels.InDistribution(200, seed: 1), GateTestModels.FitOptions() with { FeatureFlow = Quick });
        var inputs = cat([GateTestModels.InDistribution(24, seed: 5), GateTestModels.Noise(8, seed: 6)], 0);   // two full chunks
        var aligned = gate.Classify(inputs);

        var size = inputs.numel();
        var buffer = zeros(size + 16);
        var differing = new List<string>();
        for (int offset = 1; offset < 16; offset++)
        {
            var shifted = buffer.narrow(0, offset, size).view(inputs.shape);   // 4·offset bytes past a 64-byte boundary
            shifted.copy_(inputs);
            var decisions = gate.Classify(shifted);
            differing.AddRange(Enumerable.Range(0, 32).Where(i => !GateTestModels.SameBits(aligned[i], decisions[i])).Select(i => $"input {i} at offset {offset}"));
        }

        differing.Should().BeEmpty("an input's decision must not depend on where its batch lies in memory");
    }

    [Fact]
    public void TheClassifier_IsLeftUntouched_AndItsOwnCallsReturnWhatTheyReturnedBefore()
    {
        using var scope = NewDisposeScope();
        using var classifier = GateTestModels.Cnn(seed: 21);
        using var probe = GateTestModels.InDistribution(9, seed: 22);
        Tensor UserCall()
        {
            using var noGrad = no_grad();
            return classifier.call(probe);
        }

        var before = Snapshot(classifier);
        var outputBefore = UserCall();
        using (var gate = OodGate.Fit(classifier, GateTestModels.InDistribution(120, seed: 23), GateTestModels.FitOptions() with
        {
            CalibrationFraction = 0.25,
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 5, BatchSize = 30 } },
        }))
        {
            gate.Classify(probe);
            UserCall().eq(outputBefore).all().item<bool>().Should().BeTrue("the hook must not change the user's own calls");
            Snapshot(classifier).Should().Equal(before, "Fit and Classify must not change the classifier");
        }

        UserCall().eq(outputBefore).all().item<bool>().Should().BeTrue();
        Snapshot(classifier).Should().Equal(before);
    }

    [Fact]
    public void AClassifierInTrainingMode_IsRefused()
    {
        using var scope = NewDisposeScope();
        using var classifier = GateTestModels.Cnn(seed: 31);
        var data = GateTestModels.InDistribution(60, seed: 32);
        classifier.train();
        var fit = () => OodGate.Fit(classifier, data, GateTestModels.FitOptions());
        fit.Should().Throw<InvalidOperationException>().WithMessage("*training mode*.eval()*");
        classifier.training.Should().BeTrue("the gate never changes the mode");

        // A gate whose classifier is put back in training mode refuses to classify.
        var relu = classifier.named_modules().Single(m => m.name == "relu3").module;
        classifier.eval();
        relu.train();
        var create = () => OodGate.Fit(classifier, data, GateTestModels.FitOptions());
        create.Should().Throw<InvalidOperationException>("a submodule in training mode counts too");
        classifier.eval();
        Gate.Invoking(g => g.ClassifyOne(data[0])).Should().NotThrow();
        fixture.Classifier.train();
        try
        {
            Gate.Invoking(g => g.ClassifyOne(data[0])).Should().Throw<InvalidOperationException>().WithMessage("*training mode*");
        }
        finally
        {
            fixture.Classifier.eval();
        }
    }

    [Fact]
    public void BadInputs_AreRejected_NamingTheProblem()
    {
        using var scope = NewDisposeScope();
        var good = GateTestModels.InDistribution(3, seed: 41);
        Gate.Invoking(g => g.Classify(zeros(2, 1, 8, 9))).Should().Throw<ArgumentException>().WithMessage("*[N, 1, 8, 8]*[2, 1, 8, 9]*");
        Gate.Invoking(g => g.Classify(good[0])).Should().Throw<ArgumentException>().WithMessage("*use ClassifyOne*");
        Gate.Invoking(g => g.ClassifyOne(good)).Should().Throw<ArgumentException>().WithMessage("*[1, 8, 8]*use Classify*");
        Gate.Invoking(g => g.Classify(good.to_type(ScalarType.Float64))).Should().Throw<ArgumentException>().WithMessage("*float32*Float64*");
        Gate.Invoking(g => g.Classify(zeros(0, 1, 8, 8))).Should().Throw<ArgumentException>().WithMessage("*empty*");
        using var nan = float.NaN.ToScalar();
        using var infinity = float.PositiveInfinity.ToScalar();
        Gate.Invoking(g => g.Classify(good.clone().index_put_(nan, 1, 0, 2, 2))).Should().Throw<ArgumentException>().WithMessage("*NaN or infinite*");
        Gate.Invoking(g => g.Classify(good.clone().index_put_(infinity, 2, 0, 0, 0))).Should().Throw<ArgumentException>().WithMessage("*NaN or infinite*");
        Gate.Invoking(g => g.Classify(empty(2, 1, 8, 8, device: META))).Should().Throw<ArgumentException>().WithMessage("*meta device*");
        Gate.Invoking(g => g.Classify(null!)).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void AMissingFeatureLayer_IsRefused_ListingTheLayers()
    {
        using var scope = NewDisposeScope();
        var data = GateTestModels.InDistribution(60, seed: 51);
        var fit = () => OodGate.Fit(fixture.Classifier, data, GateTestModels.FitOptions(layer: "fc9"));
        fit.Should().Throw<ArgumentException>().WithMessage("*no layer named 'fc9'*'conv1'*'fc1'*'fc2'*");
        var neither = () => OodGate.Fit(fixture.Classifier, data, GateTestModels.FitOptions() with { FeatureLayer = null });
        neither.Should().Throw<ArgumentException>().WithMessage("*exactly one of*FeatureLayer*");
        var oneFeature = () => OodGate.Fit(fixture.Classifier, data, GateTestModels.FitOptions(layer: "fc2") with { ClassNames = null, FeatureFlow = Quick });
        oneFeature.Should().NotThrow("fc2 gives 3 features");
        var tooFew = () => OodGate.Fit(fixture.Classifier, GateTestModels.InDistribution(12, seed: 52), GateTestModels.FitOptions());
        tooFew.Should().Throw<ArgumentException>().WithMessage("*at least 10 for calibration*");
    }

    [Fact]
    public void AClassifierWithTheWrongOutputShape_IsRefused_SayingWhatIsWrong()
    {
        using var scope = NewDisposeScope();
        var data = GateTestModels.InDistribution(60, seed: 61);
        using var oneClass = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(64, 8)), ("fc2", nn.Linear(8, 1)));
        oneClass.eval();
        var fit = () => OodGate.Fit(oneClass, data, GateTestModels.FitOptions() with { ClassNames = null });
        fit.Should().Throw<ArgumentException>().WithMessage("*[N, C] with C ≥ 2*[1, 1]*fewer than 2 classes*");
        using var flat = nn.Sequential(("fc1", nn.Linear(8, 4)), ("fc2", nn.Linear(4, 3)));
        flat.eval();
        var wrongInput = () => OodGate.Fit(flat, data, GateTestModels.FitOptions() with { ClassNames = null });
        wrongInput.Should().Throw<ArgumentException>().WithMessage("*[N, C]*[1, 1, 8, 3]*");
        var names = () => OodGate.Fit(fixture.Classifier, data, GateTestModels.FitOptions() with { ClassNames = ["a", "b"] });
        names.Should().Throw<ArgumentException>().WithMessage("*2 class names*3 classes*");
    }

    [Fact]
    public void Dispose_IsIdempotent_RemovesTheHook_AndLeavesTheClassifierUsable()
    {
        using var scope = NewDisposeScope();
        using var classifier = GateTestModels.Cnn(seed: 71);
        var data = GateTestModels.InDistribution(60, seed: 72);
        var options = GateTestModels.FitOptions() with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 3, BatchSize = 30 } },
        };
        var gate = OodGate.Fit(classifier, data, options);
        var detector = gate.Detector;
        var first = gate.ClassifyOne(data[0]);
        gate.Dispose();
        gate.Dispose();
        gate.Invoking(g => g.Classify(data)).Should().Throw<ObjectDisposedException>();
        gate.Invoking(g => g.ClassifyOne(data[0])).Should().Throw<ObjectDisposedException>();
        gate.Invoking(g => g.Save("unused.flowood")).Should().Throw<ObjectDisposedException>();
        detector.Invoking(d => d.Predict(data)).Should().Throw<ObjectDisposedException>("a fitted gate owns its detector");
        using (var noGrad = no_grad())
        {
            classifier.call(data).shape.Should().Equal(60, 3);
        }

        // The old hook is gone: a second gate on the same layer works on its own.
        using var second = OodGate.Fit(classifier, data, options);
        second.ClassifyOne(data[0]).Probabilities.Should().Equal(first.Probabilities);
    }

    [Fact]
    public void AFeatureExtractorFunction_CanStandInForALayer()
    {
        using var scope = NewDisposeScope();
        var extractorCalls = 0;
        Tensor Features(Tensor batch)
        {
            Interlocked.Increment(ref extractorCalls);
            return batch.flatten(1).narrow(1, 0, 16).Times(2);
        }

        var data = GateTestModels.InDistribution(100, seed: 81);
        using var gate = OodGate.Fit(fixture.Classifier, data, GateTestModels.FitOptions() with
        {
            FeatureLayer = null,
            FeatureExtractor = Features,
            FeatureExtractorName = "first-16-pixels",
            FeatureFlow = Quick,
        });
        gate.FeatureLayer.Should().BeNull();
        gate.FeatureExtractorName.Should().Be("first-16-pixels");
        var batch = gate.Classify(data.narrow(0, 0, 9));
        var singles = Enumerable.Range(0, 9).Select(i => gate.ClassifyOne(data[i])).ToArray();
        batch.Should().Equal(singles);
        extractorCalls.Should().BeGreaterThan(0);

        // The function is code, not stored: loading the gate takes it again from the model options' catalog.
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        gate.Save(path);
        var missing = () => OodGate.Load(path, fixture.Classifier);
        missing.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("*'first-16-pixels'*is code and not stored*ModelCatalog.BuiltIn.WithFeatureExtractor(extractor)*");
        using (var module = nn.Flatten())
        {
            var asModule = () => OodGate.Load(
                path, fixture.Classifier, new GateLoadOptions { Model = new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(module) } });
            asModule.Should().Throw<ArgumentException>().WithMessage("*a function; the catalog holds a module*");
        }

        var callsBeforeLoad = extractorCalls;
        using var loaded = OodGate.Load(
            path, fixture.Classifier, new GateLoadOptions { Model = new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(Features) } });
        loaded.FeatureExtractorName.Should().Be("first-16-pixels");
        loaded.Classify(data.narrow(0, 0, 9)).Should().Equal(batch);
        extractorCalls.Should().BeGreaterThan(callsBeforeLoad, "the loaded gate computes its features with the function registered in the catalog");
    }

    private static string[] Snapshot(nn.Module<Tensor, Tensor> module)
    {
        using var scope = NewDisposeScope();
        var modes = module.modules().Select(m => $"mode:{m.training}");
        var parameters = module.named_parameters().Select(p =>
            $"{p.name}:{p.parameter.requires_grad}:{p.parameter.grad is null}:{p.parameter.device}:{Convert.ToHexString(p.parameter.detach().cpu().contiguous().bytes)}");
        var buffers = module.named_buffers().Select(b => $"{b.name}:{b.buffer.device}:{Convert.ToHexString(b.buffer.detach().cpu().contiguous().bytes)}");
        return [$"root:{module.training}", .. modes, .. parameters, .. buffers];
    }
}
