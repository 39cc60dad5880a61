using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Persistence;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// One scorer or detector shared by every request thread gives the answers of a single-threaded run, bit for bit, and
// leaves its flows exactly as it found them. The requests mix every scorer kind, a detector, bin-centre and seeded
// noise, single images and batches of 1-200, so threads with different noise run through the same flows at once.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConcurrentScoringTests
{
    private const int Threads = 8;
    private const int CallsPerThread = 1000;
    private const int PoolSize = 400;

    [Fact]
    public void EightThreadsSharingEveryScorerKind_GiveTheSerialResultsBitForBit_AndChangeNoFlow()
    {
        using var scope = NewDisposeScope();
        var pool = ScoringFlows.EightBitImages(PoolSize, ScalarType.Float32);
        var heldOut = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var scorers = CreateScorers(heldOut);
        using var detector = OodDetector.Calibrate(scorers[0], heldOut, 0.1);
        var flows = scorers.SelectMany(ScorerPersistenceTests.FlowsOf).Distinct().ToArray();
        var before = flows.Select(Snapshot).ToArray();
        var requests = Requests(scorers.Length + 1);

        var serial = requests.Select(r => Answer(r, scorers, detector, pool)).ToArray();

        var liveBefore = Concurrency.SettledTensorCount();
        var concurrent = Concurrency.OnThreads(Threads, requests.Length, i => Answer(requests[i], scorers, detector, pool));
        Tensor.TotalCount.Should().Be(liveBefore, "concurrent scoring must free every temporary it creates");
        var differing = Enumerable.Range(0, requests.Length).Count(i => !concurrent[i].SequenceEqual(serial[i]));
        differing.Should().Be(0, $"all {requests.Length} concurrent calls must equal the serial ones bit for bit");
        for (int f = 0; f < flows.Length; f++)
        {
            flows[f].IsInEvaluationMode.Should().BeTrue();
            Snapshot(flows[f]).Should().Equal(before[f], $"scoring must not change flow {f}'s parameters or buffers");
        }

        foreach (var scorer in scorers)
        {
            scorer.Dispose();
        }

        foreach (var flow in flows)
        {
            flow.Dispose();
        }
    }

    [Fact]
    public void SeededNoise_GivesAnInputTheSameScoreWhateverBatchItArrivesIn()
    {
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 41);
        using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize: 3, ScoringNoise.Seeded(42), ownsFlow: true);
        using var binCentres = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize: 3);
        var batch = ScoringFlows.EightBitImages(10, ScalarType.Float32);

        var together = scorer.Score(batch);
        var alone = Enumerable.Range(0, 10).Select(i => scorer.Score(batch.narrow(0, i, 1))[0]).ToArray();
        var reversed = scorer.Score(batch.flip(0)).Reverse().ToArray();

        alone.Should().BeEquivalentTo(together, o => o.Using<double>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-4)).WhenTypeIs<double>());
        reversed.Should().BeEquivalentTo(together, o => o.Using<double>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-4)).WhenTypeIs<double>());
        together.Should().NotEqual(binCentres.Score(batch), "seeded noise is not the bin centres");
        scorer.Score(batch).Should().Equal(together, "the same call gives the same scores");
    }

    [Fact]
    public void LoadedDetector_Disposed_FreesItsFlowsAndThenRefusesWork()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var heldOut = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var path = folder.Combine("detector" + ModelFile.Extension);
        using (var scorer = new LikelihoodRatioScorer(
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 3),
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 4),
            ownsFlows: true))
        using (var calibrated = OodDetector.Calibrate(scorer, heldOut, 0.1))
        {
            ModelFile.Save(calibrated, path);
        }

        var detector = ModelFile.LoadDetector(path);
        detector.Predict(heldOut).Should().HaveCount(20);
        var flows = ScorerPersistenceTests.FlowsOf(detector.Scorer).ToArray();
        var stateTensors = flows.Sum(f => f.parameters().Count() + f.buffers().Count());
        var loaded = Tensor.TotalCount;

        detector.Dispose();
        detector.Dispose();

        flows.Should().HaveCount(2);
        (loaded - Tensor.TotalCount).Should().BeGreaterThanOrEqualTo(
            stateTensors, "disposing a loaded detector frees every parameter and buffer of its flows");
        var act = () => detector.Predict(heldOut);
        act.Should().Throw<ObjectDisposedException>();
        var scoreAct = () => detector.Scorer.Score(heldOut);
        scoreAct.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void ScorerNotOwningItsFlow_Disposed_LeavesTheFlowUsable()
    {
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 5);
        var batch = ScoringFlows.EightBitImages(4, ScalarType.Float32);
        var scorer = new NegativeLogLikelihoodScorer(flow);
        var scores = scorer.Score(batch);

        scorer.Dispose();

        using var again = new NegativeLogLikelihoodScorer(flow, ownsFlow: true);
        again.Score(batch).Should().Equal(scores);
    }

    [Fact]
    public void FlowPutBackInTrainingMode_IsRefusedWithAClearMessage()
    {
        using var scope = NewDisposeScope();
        using var scorer = new NegativeLogLikelihoodScorer(ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 6), ownsFlow: true);
        scorer.Flow.train();

        var act = () => scorer.Score(ScoringFlows.EightBitImages(2, ScalarType.Float32));

        act.Should().Throw<InvalidOperationException>().WithMessage("*training mode*");
    }

    internal static IOodScorer[] CreateScorers(Tensor heldOut)
    {
        var noises = new[] { ScoringNoise.BinCentres, ScoringNoise.Seeded(17) };
        var scorers = new List<IOodScorer>();
        foreach (var noise in noises)
        {
            var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 31);
            var other = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 32);
            scorers.Add(new NegativeLogLikelihoodScorer(flow, chunkSize: 64, noise: noise));
            scorers.Add(new LikelihoodRatioScorer(flow, other, chunkSize: 50, noise: noise));
            scorers.Add(new LocalLikelihoodRatioScorer(flow, ScoringFlows.CreateLocal(seed: 33), chunkSize: 50, noise: noise, ownsFlows: false));
            scorers.Add(new InputComplexityScorer(flow, chunkSize: 64, noise: noise));
            scorers.Add(TypicalityScorer.Fit(flow, heldOut, chunkSize: 64, noise));
            scorers.Add(DoseScorer.Fit(flow, heldOut, chunkSize: 64, noise));
            scorers.Add(new WaicScorer([flow, other], chunkSize: 64, noise: noise));
            scorers.Add(TwoSidedScorer.Fit(new LikelihoodRatioScorer(flow, other, chunkSize: 50, noise: noise), heldOut, ownsInner: true));
            scorers.Add(StirringScorer.Fit(flow, heldOut, chunkSize: 64, noise: noise));
            scorers.Add(ScoreDensityScorer.Fit(
                [new NegativeLogLikelihoodScorer(flow, chunkSize: 64, noise: noise), new LocalLikelihoodRatioScorer(flow, ScoringFlows.CreateLocal(seed: 34), chunkSize: 50, noise: noise, ownsFlows: false)],
                heldOut,
                ownsMembers: true));
        }

        scorers.Add(new StirringScorer(
            ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 33), -60, 3, StirringTransforms.QuadrantDerangements, chunkSize: 40, ownsFlow: true));

        scorers.Add(RotationPredictionScorerTests.TrainTiny(heldOut, seed: 35));
        scorers.Add(FeatureSpaceScorer.Fit(
            Features,
            heldOut,
            new FeatureSpaceFitOptions
            {
                Flow = new FlowOod.Models.TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                Training = new FlowOod.Training.TrainingOptions { Steps = 5, BatchSize = 10, Seed = 1 },
            }));
        return [.. scorers];
    }

    private static Tensor Features(Tensor batch) => batch.flatten(1).narrow(1, 0, 6).Times(2);

    // Deterministic requests: which scorer (the last index is the detector), where in the pool, how many images.
    private static (int Scorer, int Start, int Length)[] Requests(int kinds)
    {
        var random = new Random(2026);
        return Enumerable.Range(0, Threads * CallsPerThread).Select(_ =>
        {
            var length = random.Next(3) == 0 ? 1 : (int)Math.Round(Math.Exp(random.NextDouble() * Math.Log(200)));
            return (random.Next(kinds), random.Next(PoolSize - length + 1), length);
        }).ToArray();
    }

    private static double[] Answer((int Scorer, int Start, int Length) request, IOodScorer[] scorers, OodDetector detector, Tensor pool)
    {
        using var scope = NewDisposeScope();
        var batch = pool.narrow(0, request.Start, request.Length);
        if (request.Scorer < scorers.Length)
        {
            return scorers[request.Scorer].Score(batch);
        }

        return detector.Predict(batch).SelectMany(p => new[] { p.Score, p.PValue, p.IsOutOfDistribution ? 1.0 : 0.0 }).ToArray();
    }

    private static double[] Snapshot(NormalizingFlow flow)
    {
        using var scope = NewDisposeScope();
        return flow.state_dict().Values.SelectMany(t => t.to_type(ScalarType.Float64).cpu().flatten().data<double>().ToArray()).ToArray();
    }
}
