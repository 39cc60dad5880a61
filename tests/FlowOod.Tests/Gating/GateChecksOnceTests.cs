using System;
using System.Linq;
using FlowOod.Data;
using FlowOod.Detection;
using FlowOod.Embeddings;
using FlowOod.Gating;
using FlowOod.Scoring;
using FlowOod.Tests.Embeddings;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// Issue 19, "the serving path checks each fact once": per request, a batch's values (finite, range) are read once, each
// score is checked for NaN once, and the flow sees each fixed-size chunk once (CheckCounters counts per thread). Before,
// an input gate read the batch again in the flow's ValidateInput of every chunk, checked every score for NaN three times
// (the scorer, the gate, OodDetector.PValue) and let the scorer cut the gate's chunks again. ScoringFlows seeds torch's
// global generator.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GateChecksOnceTests
{
    [Fact]
    public void InputGate_Classify_ReadsTheBatchOnce_ChecksEachScoreOnce_AndTheFlowSeesEachGateChunkWhole()
    {
        using var scope = NewDisposeScope();
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var classifier = GateTestModels.Cnn(seed: 201);
        var calibration = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        // The scorer's own chunk (4) is smaller than the gate's (16): the gate's chunk must still reach the flow whole.
        using var detector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(flow, chunkSize: 4), calibration, 0.1, ownsScorer: true);
        using var gate = OodGate.Create(classifier, detector, GateTestModels.InputShape, ["a", "b", "c"]);
        var inputs = ScoringFlows.EightBitImages(20, ScalarType.Float32);

        CheckCounters.Reset();
        var decisions = gate.Classify(inputs);

        decisions.Should().HaveCount(20);
        CheckCounters.ValueReads.Should().Be(1, "the gate reads the batch's values once; the flow checks its range against them");
        CheckCounters.ScoreNaNChecks.Should().Be(32, "the scorer checks each score of its two padded chunks of 16 once");
        CheckCounters.FlowEvaluations.Should().Be(2, "two gate chunks, each evaluated as one piece");

        // The same scores as the public path of the scorer on each padded chunk (one piece of 16 there too).
        var direct = new NegativeLogLikelihoodScorer(flow, chunkSize: 16).Score(inputs.narrow(0, 0, 16));
        decisions.Take(16).Select(d => d.Score).Should().Equal(direct);
    }

    [Fact]
    public void InputGate_OverTwoFlows_ReadsTheBatchOnce()
    {
        using var scope = NewDisposeScope();
        using var foreground = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 5);
        using var background = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 6);
        using var classifier = GateTestModels.Cnn(seed: 202);
        var calibration = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        using var detector = OodDetector.Calibrate(new LikelihoodRatioScorer(foreground, background), calibration, 0.1, ownsScorer: true);
        using var gate = OodGate.Create(classifier, detector, GateTestModels.InputShape);
        var inputs = ScoringFlows.EightBitImages(16, ScalarType.Float32);

        CheckCounters.Reset();
        gate.Classify(inputs);

        CheckCounters.ValueReads.Should().Be(1);
        CheckCounters.ScoreNaNChecks.Should().Be(16);
        CheckCounters.FlowEvaluations.Should().Be(2, "one chunk, one evaluation per flow");
    }

    [Fact]
    public void InputGate_StillRejectsBadBatches_WithTheMessagesOfBefore()
    {
        using var scope = NewDisposeScope();
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32);
        using var classifier = GateTestModels.Cnn(seed: 203);
        var calibration = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        using var detector = OodDetector.Calibrate(new NegativeLogLikelihoodScorer(flow), calibration, 0.1, ownsScorer: true);
        using var gate = OodGate.Create(classifier, detector, GateTestModels.InputShape);

        var outOfRange = ScoringFlows.EightBitImages(16, ScalarType.Float32);
        outOfRange[3, 0, 2, 2] = tensor(2f);
        gate.Invoking(g => g.Classify(outOfRange)).Should().Throw<ArgumentException>()
            .WithMessage("Input values must lie in [0, 1]; this batch spans [*, 2]*").Which.ParamName.Should().Be("batch");
        gate.Invoking(g => g.ClassifyOne(outOfRange[3])).Should().Throw<ArgumentException>()
            .WithMessage("Input values must lie in [0, 1]*").Which.ParamName.Should().Be("input");

        var withNaN = ScoringFlows.EightBitImages(16, ScalarType.Float32);
        withNaN[0, 0, 0, 0] = tensor(float.NaN);
        gate.Invoking(g => g.Classify(withNaN)).Should().Throw<ArgumentException>()
            .WithMessage("The batch contains NaN or infinite values.*");
    }

    [Fact]
    public void Scorers_CalledDirectly_StillValidate_ReadingTheBatchOnce()
    {
        using var scope = NewDisposeScope();
        using var first = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 7);
        using var second = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32, seed: 8);
        using var nll = new NegativeLogLikelihoodScorer(first);
        using var waic = new WaicScorer([first, second]);
        var inputs = ScoringFlows.EightBitImages(6, ScalarType.Float32);

        CheckCounters.Reset();
        nll.Score(inputs);
        CheckCounters.ValueReads.Should().Be(1);
        CheckCounters.Reset();
        waic.Score(inputs);
        CheckCounters.ValueReads.Should().Be(1, "the ensemble's flows check their ranges against one read of the batch");

        var outOfRange = inputs.mul(tensor(3f));
        nll.Invoking(s => s.Score(outOfRange)).Should().Throw<ArgumentException>()
            .WithMessage("Input values must lie in [0, 1]; this batch spans*").Which.ParamName.Should().Be("batch");
        waic.Invoking(s => s.Score(outOfRange)).Should().Throw<ArgumentException>()
            .WithMessage("Input values must lie in [0, 1]; this batch spans*").Which.ParamName.Should().Be("batch");
        var wrongShape = zeros(2, 1, 4, 4);
        waic.Invoking(s => s.Score(wrongShape)).Should().Throw<ArgumentException>().WithMessage("Expected a batch of shape [N, 1, 8, 8]*");
        var withInf = inputs.clone();
        withInf[1, 0, 0, 0] = tensor(float.PositiveInfinity);
        nll.Invoking(s => s.Score(withInf)).Should().Throw<ArgumentException>().WithMessage("The batch contains NaN or infinite values.*");
    }

    [Fact]
    public void PixelScale_IsTheDivisionImageDatasetUsedToDo_BitForBit()
    {
        using var scope = NewDisposeScope();
        var bytes = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        // What ImageDataset.ToTensor computed before it used PixelScale.
        var before = tensor(bytes).to(ScalarType.Float32).DivideInPlace(255).data<float>().ToArray();
        var now = PixelScale.ToUnit(bytes);
        now.Select(BitConverter.SingleToInt32Bits).Should().Equal(before.Select(BitConverter.SingleToInt32Bits));
        Enumerable.Range(0, 256).Select(v => PixelScale.ToUnit((float)v)).Should().Equal(now);
    }
}

// The feature gate and the embedding detector: every score is checked for NaN once (before: again in PValue), and the
// embedding rows, checked on the host by EmbeddingRows, are not read again by the scorer.
public sealed class FeatureGateChecksOnceTests(FittedGateFixture gateFixture) : IClassFixture<FittedGateFixture>
{
    [Fact]
    public void FeatureGate_Classify_ChecksEachScoreOnce_AndEvaluatesTheFlowOncePerChunk()
    {
        var inputs = GateTestModels.InDistribution(20, seed: 77);
        var chunks = (20 + gateFixture.Gate.ChunkSize - 1) / gateFixture.Gate.ChunkSize;

        CheckCounters.Reset();
        gateFixture.Gate.Classify(inputs);

        CheckCounters.ScoreNaNChecks.Should().Be(20, "the feature flow has the managed path, so only the inputs are scored, not the padding");
        CheckCounters.FlowEvaluations.Should().Be(chunks);
        CheckCounters.ValueReads.Should().Be(1 + chunks, "the batch once; per chunk the features, read once on the host (finite, then the standardised range)");
    }
}

public sealed class EmbeddingChecksOnceTests(FittedEmbeddingDetector embeddingFixture) : IClassFixture<FittedEmbeddingDetector>
{
    [Fact]
    public void EmbeddingDetector_Predict_ReadsTheRowsOnce_AndChecksEachScoreOnce()
    {
        var detector = embeddingFixture.Detector;
        var rows = EmbeddingTestData.Rows(detector.ChunkSize, seed: 9);

        CheckCounters.Reset();
        var predictions = detector.Predict(rows);

        predictions.Should().HaveCount(rows.Length);
        CheckCounters.ValueReads.Should().Be(1, "EmbeddingRows checks the rows; the scorer does not read them again");
        CheckCounters.ScoreNaNChecks.Should().Be(rows.Length);
        CheckCounters.FlowEvaluations.Should().Be(1);
    }
}
