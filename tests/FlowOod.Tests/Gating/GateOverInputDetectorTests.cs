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
            // The detector called directly sees a batch of 13, the gate chunks of 16: the flow's kernels then differ in the
            // last bits (which is why the gate pads to a fixed chunk), so the scores agree only to rounding.
            var direct = detector.Predict(inputs);
            for (int i = 0; i < 13; i++)
            {
                batch[i].Score.Should().BeApproximately(direct[i].Score, 1e-6 * Math.Abs(direct[i].Score));
            }

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
