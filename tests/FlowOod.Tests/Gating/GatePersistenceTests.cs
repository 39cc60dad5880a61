using System;
using System.IO;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

public sealed class GatePersistenceTests(FittedGateFixture fixture) : IClassFixture<FittedGateFixture>
{
    [Fact]
    public void SaveAndLoad_GiveIdenticalDecisions_AndAGateFileKind()
    {
        using var scope = NewDisposeScope();
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        fixture.Gate.Save(path, new System.Collections.Generic.Dictionary<string, string> { ["note"] = "test" });
        File.Exists(path).Should().BeTrue();
        Directory.GetFiles(folder.Path).Should().HaveCount(1, "the atomic write leaves no temporary file behind");
        var info = ModelFile.ReadInfo(path);
        info.Kind.Should().Be("gate");
        info.Metadata["note"].Should().Be("test");

        using var loaded = OodGate.Load(path, fixture.Classifier);
        var inputs = cat([GateTestModels.InDistribution(20, seed: 91), GateTestModels.Noise(9, seed: 92)], 0);
        var expected = fixture.Gate.Classify(inputs);
        var actual = loaded.Classify(inputs);
        Enumerable.Range(0, expected.Length).Where(i => !GateTestModels.SameBits(expected[i], actual[i])).Should().BeEmpty();
        loaded.ClassNames.Should().Equal(fixture.Gate.ClassNames);
        loaded.FeatureLayer.Should().Be("fc1");
        loaded.InputShape.Should().Equal(fixture.Gate.InputShape);
        loaded.ChunkSize.Should().Be(fixture.Gate.ChunkSize);
        loaded.Threshold.Should().Be(fixture.Gate.Threshold);
        loaded.Detector.CalibrationScores.Should().Equal(fixture.Gate.Detector.CalibrationScores);
        loaded.ClassifierFingerprint.Should().Be(fixture.Gate.ClassifierFingerprint);
    }

    [Fact]
    public void Load_WithAnotherClassifier_ThrowsGateMismatch_NamingWhatDiffers()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        fixture.Gate.Save(path);

        using var retrained = GateTestModels.Cnn(seed: 11);
        using (var noGrad = no_grad())
        {
            var bias = retrained.named_parameters().Single(p => p.name == "fc2.bias").parameter;
            bias[0] = bias[0].Plus(1e-3f);
        }

        var sameShapes = () => OodGate.Load(path, retrained);
        sameShapes.Should().Throw<GateMismatchException>().WithMessage("*weights differ, first in 'fc2.bias:float32[3]'*");

        using var wider = GateTestModels.Cnn(seed: 11, hidden: 12);
        var otherShapes = () => OodGate.Load(path, wider);
        otherShapes.Should().Throw<GateMismatchException>().WithMessage("*'fc1.weight:float32[16, 128]'*'fc1.weight:float32[12, 128]'*");

        using var same = GateTestModels.Cnn(seed: 11);
        var rebuilt = () => OodGate.Load(path, same).Dispose();
        rebuilt.Should().NotThrow("the same weights rebuilt from the same seed are the same classifier");
    }

    [Fact]
    public void Load_WithAnAlphaOverride_RecomputesTheThresholdFromTheStoredCalibrationScores()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        fixture.Gate.Save(path);
        using var loose = OodGate.Load(path, fixture.Classifier, new GateLoadOptions { TargetFalsePositiveRate = 0.3 });
        var calibration = fixture.Gate.Detector.CalibrationScores;
        using (var expected = new OodDetector(fixture.Gate.Detector.Scorer, 0.3, calibration))
        {
            loose.Threshold.Should().Be(expected.Threshold);
        }

        loose.TargetFalsePositiveRate.Should().Be(0.3);
        loose.Threshold.Should().BeLessThan(fixture.Gate.Threshold, "a larger α refuses more, so its threshold is lower");
        // k = ⌊α(n + 1)⌋ − 1 = ⌊0.3·201⌋ − 1 = 59: the 60th largest of the 200 calibration scores.
        loose.Threshold.Should().Be(calibration[200 - 1 - 59]);

        var tooStrict = () => OodGate.Load(path, fixture.Classifier, new GateLoadOptions { TargetFalsePositiveRate = 0.001 });
        tooStrict.Should().Throw<ArgumentException>().WithMessage("*needs at least 1000 calibration scores*holds 200*");
        var outOfRange = () => OodGate.Load(path, fixture.Classifier, new GateLoadOptions { TargetFalsePositiveRate = 1.5 });
        outOfRange.Should().Throw<ArgumentOutOfRangeException>();
        var extractor = () => OodGate.Load(
            path, fixture.Classifier, new GateLoadOptions { Model = new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(b => b.flatten(1)) } });
        extractor.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*layer 'fc1'*must hold no feature extractor*");
    }

    [Fact]
    public void TruncatedOrCorruptedGateFiles_ThrowModelFormatException()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        fixture.Gate.Save(path);
        var bytes = File.ReadAllBytes(path);

        var truncated = folder.Write("truncated.flowood", bytes[..(bytes.Length / 2)]);
        var flipped = bytes.ToArray();
        flipped[bytes.Length / 3] ^= 0x40;
        var corrupted = folder.Write("corrupted.flowood", flipped);
        var empty = folder.Write("empty.flowood", []);
        foreach (var file in new[] { truncated, corrupted, empty })
        {
            var load = () => OodGate.Load(file, fixture.Classifier);
            load.Should().Throw<ModelFormatException>().WithMessage($"*{Path.GetFileName(file)}*");
        }

        var detectorFile = folder.Combine("detector.flowood");
        ModelFile.Save(OodDetector.Calibrate(new NegativeLogLikelihoodScorer(((FeatureSpaceScorer)fixture.Gate.Detector.Scorer).Flow), zeros(20, 16), 0.1), detectorFile);
        var wrongKind = () => OodGate.Load(detectorFile, fixture.Classifier);
        wrongKind.Should().Throw<ModelFormatException>().WithMessage("*holds a detector, not a gate*");
    }

    [Fact]
    public void Save_RefusesAClassifierChangedSinceFitting()
    {
        using var scope = NewDisposeScope();
        using var classifier = GateTestModels.Cnn(seed: 101);
        var data = GateTestModels.InDistribution(60, seed: 102);
        using var gate = OodGate.Fit(classifier, data, GateTestModels.FitOptions() with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 3, BatchSize = 30 } },
        });
        GateTestModels.Reinitialize(classifier, seed: 103);
        using var folder = new TempFolder();
        gate.Invoking(g => g.Save(folder.Combine("gate.flowood"))).Should().Throw<InvalidOperationException>().WithMessage("*classifier changed*weights differ*");
    }
}
