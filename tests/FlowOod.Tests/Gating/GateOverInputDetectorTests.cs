using System;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// A gate over a detector of the classifier's inputs (a pixel scorer). ScoringFlows seeds torch's global generator.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GateOverInputDetectorTests
{
    [Fact]
    public void Create_WithAnInputComplexityDetector_ClassifiesExactly_SavesAndLoads_AndLeavesTheDetectorToItsOwner()
    {
        using var scope = NewDisposeScope();
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var classifier = GateTestModels.Cnn(seed: 201);
        var calibration = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        using var detector = OodDetector.Calibrate(new InputComplexityScorer(flow), calibration, 0.1, ownsScorer: true);
        var inputs = ScoringFlows.EightBitImages(13, ScalarType.Float32);

        using (var gate = OodGate.Create(classifier, detector, GateTestModels.InputShape, ["a", "b", "c"]))
        {
            gate.FeatureLayer.Should().BeNull();
            gate.Threshold.Should().Be(detector.Threshold);
            var batch = gate.Classify(inputs);
            var singles = Enumerable.Range(0, 13).Select(i => gate.ClassifyOne(inputs[i])).ToArray();
            Enumerable.Range(0, 13).Where(i => !GateTestModels.SameBits(batch[i], singles[i])).Should().BeEmpty();
            var direct = detector.Predict(inputs);
            batch.Select(d => d.IsOutOfDistribution).Should().Equal(direct.Select(p => p.IsOutOfDistribution));
            batch.Select(d => d.Score).Should().Equal(direct.Select(p => p.Score), "input complexity scores each image on its own");

            using var folder = new TempFolder();
            var path = folder.Combine("pixel-gate.flowood");
            gate.Save(path);
            using var loaded = OodGate.Load(path, classifier);
            loaded.Classify(inputs).Should().Equal(batch);
            loaded.ClassNames.Should().Equal("a", "b", "c");
        }

        detector.Invoking(d => d.Predict(inputs)).Should().NotThrow("ownsDetector: false leaves the detector to its owner");
        var wrongShape = () => OodGate.Create(classifier, detector, [1, 6, 6]);
        wrongShape.Should().Throw<ArgumentException>();
    }
}
