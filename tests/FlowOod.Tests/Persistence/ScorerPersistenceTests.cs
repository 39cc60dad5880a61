using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Save → load identity for every FlowOod scorer: same type, same settings, bit-identical scores.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ScorerPersistenceTests
{
    public static TheoryData<string> Scorers => ["Nll", "Typicality", "Dose", "Waic", "LikelihoodRatio", "LocalLikelihoodRatio", "InputComplexityPng", "InputComplexityDeflate", "TwoSided", "Stirring", "Shaking", "ScoreDensity", "RotationPrediction"];

    [Theory]
    [MemberData(nameof(Scorers))]
    public void SaveThenLoad_EveryScorer_GivesIdenticalScores(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(30, ScalarType.Float32);
        var scorer = Create(name, batch);
        var path = folder.Combine(name + ModelFile.Extension);

        ModelFile.Save(scorer, path);
        var loaded = ModelFile.LoadScorer(path);

        loaded.GetType().Should().Be(scorer.GetType());
        loaded.Name.Should().Be(scorer.Name);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        foreach (var flow in FlowsOf(loaded))
        {
            flow.Dispose();
        }
    }

    [Fact]
    public void SaveThenLoad_TypicalityTest_GivesIdenticalVerdictsAndState()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 23);
        var test = TypicalityTest.Fit(flow, ScoringFlows.EightBitImages(40, ScalarType.Float32), batchSize: 4, new TypicalityTestOptions { Alpha = 0.1, BootstrapSamples = 200, Seed = 5 });
        var batches = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var path = folder.Combine("typicality.flowood");

        ModelFile.Save(test, path);
        var loaded = ModelFile.LoadTypicalityTest(path);

        loaded.BootstrapStatistics.Should().Equal(test.BootstrapStatistics);
        (loaded.Entropy, loaded.BatchSize, loaded.Alpha, loaded.Threshold, loaded.ChunkSize, loaded.Noise)
            .Should().Be((test.Entropy, test.BatchSize, test.Alpha, test.Threshold, test.ChunkSize, test.Noise));
        loaded.TestBatches(batches).Should().Equal(test.TestBatches(batches));
        loaded.Flow.Dispose();
    }

    [Fact]
    public void SaveThenLoad_FeatureSpaceScorer_NeedsTheExtractorAndThenScoresIdentically()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        var batch = ScoringFlows.EightBitImages(30, ScalarType.Float32);
        var scorer = FeatureSpaceScorer.Fit(
            Features,
            batch,
            new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                Training = new TrainingOptions { Steps = 5, BatchSize = 10, Seed = 1 },
            });
        var path = folder.Combine("features.flowood");
        ModelFile.Save(scorer, path);

        var withoutExtractor = () => ModelFile.LoadScorer(path);
        withoutExtractor.Should().Throw<ArgumentException>().WithMessage("*extractor*is code, not data*ModelCatalog.BuiltIn.WithFeatureExtractor(extractor)*0 given*");

        var twoExtractors = () => ModelFile.LoadScorer(
            path, new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(Features).WithProvided((Func<Tensor, Tensor>)Features) });
        twoExtractors.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*exactly one; 2 given*");

        var loaded = (FeatureSpaceScorer)ModelFile.LoadScorer(path, new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(Features) });
        loaded.Standardizer.Mean.Should().Equal(scorer.Standardizer.Mean);
        loaded.Standardizer.StandardDeviation.Should().Equal(scorer.Standardizer.StandardDeviation);
        loaded.ExtractorName.Should().Be(scorer.ExtractorName);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        loaded.Flow.Dispose();
        scorer.Flow.Dispose();
    }

    [Theory]
    [MemberData(nameof(Scorers))]
    public void SaveThenLoad_Detector_GivesIdenticalPredictions(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var calibration = ScoringFlows.EightBitImages(40, ScalarType.Float32);
        var detector = OodDetector.Calibrate(Create(name, calibration), calibration, 0.1);
        var batch = ScoringFlows.EightBitImages(25, ScalarType.Float32);
        var path = folder.Combine("detector.flowood");

        ModelFile.Save(detector, path, new Dictionary<string, string> { ["purpose"] = "test" });
        var loaded = ModelFile.LoadDetector(path);

        loaded.Threshold.Should().Be(detector.Threshold);
        loaded.TargetFalsePositiveRate.Should().Be(0.1);
        loaded.CalibrationScores.Should().Equal(detector.CalibrationScores);
        loaded.Predict(batch).Should().Equal(detector.Predict(batch));
        ModelFile.ReadInfo(path).Kind.Should().Be("detector");
        foreach (var flow in FlowsOf(loaded.Scorer))
        {
            flow.Dispose();
        }
    }

    [Fact]
    public void LoadDetector_ThresholdEditedInTheHeader_IsRefused()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var calibration = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var path = folder.Combine("detector.flowood");
        ModelFile.Save(OodDetector.Calibrate(Create("Nll", calibration), calibration, 0.2), path);
        var surgery = ModelFileSurgery.Open(System.IO.File.ReadAllBytes(path));
        var header = surgery.HeaderJson;
        header["content"]!["threshold"] = 1.5;
        surgery.HeaderJson = header;
        System.IO.File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadDetector(path);

        act.Should().Throw<ModelFormatException>().WithMessage("*stored threshold 1.5 differs*");
    }

    [Fact]
    public void LoadScorer_CustomCompressor_MustBeGivenByName()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(6, ScalarType.Float32);
        var scorer = new InputComplexityScorer(ScoringFlows.CreatePrepared(noise: false, ScalarType.Float32), new CountingCompressor());
        var path = folder.Combine("ic.flowood");
        ModelFile.Save(scorer, path);

        var act = () => ModelFile.LoadScorer(path);
        act.Should().Throw<ModelFormatException>().WithMessage($"*{path}*$.content.compressor*compressor \"Counting\"*ModelCatalog.BuiltIn.WithCompressor(compressor)*");

        var loaded = (InputComplexityScorer)ModelFile.LoadScorer(path, new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.WithCompressor(new CountingCompressor()) });
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        loaded.Flow.Dispose();
        scorer.Flow.Dispose();
    }

    private static Tensor Features(Tensor batch) => batch.flatten(1).narrow(1, 0, 6).Times(2);

    internal static IOodScorer Create(string name, Tensor heldOut)
    {
        if (name == "RotationPrediction")
        {
            return RotationPredictionScorerTests.TrainTiny(heldOut, seed: 27);
        }

        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 21);
        return name switch
        {
            "Nll" => new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize: 7),
            "Typicality" => TypicalityScorer.Fit(flow, heldOut, chunkSize: 9, ScoringNoise.Seeded(3)),
            "Dose" => DoseScorer.Fit(flow, heldOut, chunkSize: 9, ScoringNoise.Seeded(3)),
            "Waic" => new WaicScorer([flow, ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 22)], chunkSize: 11),
            "LikelihoodRatio" => new LikelihoodRatioScorer(flow, ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 24), chunkSize: 13, ScoringNoise.Seeded(9)),
            "LocalLikelihoodRatio" => new LocalLikelihoodRatioScorer(flow, ScoringFlows.CreateLocal(seed: 25), chunkSize: 6, ScoringNoise.Seeded(4)),
            "InputComplexityPng" => new InputComplexityScorer(flow, new PngCompressor(), chunkSize: 5),
            "InputComplexityDeflate" => new InputComplexityScorer(flow, new DeflateCompressor()),
            "TwoSided" => TwoSidedScorer.Fit(new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats, chunkSize: 7), heldOut, ownsInner: true),
            "Stirring" => StirringScorer.Fit(flow, heldOut, chunkSize: 9, noise: ScoringNoise.Seeded(3)),
            "Shaking" => StirringScorer.Fit(flow, heldOut, StirringTransforms.QuadrantDerangements, conditionalCorrection: false, chunkSize: 11),
            "ScoreDensity" => ScoreDensityScorer.Fit(
                [new NegativeLogLikelihoodScorer(flow, chunkSize: 5), new LocalLikelihoodRatioScorer(flow, ScoringFlows.CreateLocal(seed: 26), chunkSize: 6, ScoringNoise.Seeded(4))],
                heldOut,
                maxSamplesPerScore: 7,
                ownsMembers: true),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }

    internal static IEnumerable<NormalizingFlow> FlowsOf(IOodScorer scorer) => scorer switch
    {
        NegativeLogLikelihoodScorer s => [s.Flow],
        TypicalityScorer s => [s.Flow],
        DoseScorer s => [s.Flow],
        WaicScorer s => s.Ensemble,
        LikelihoodRatioScorer s => [s.Foreground, s.Background],
        LocalLikelihoodRatioScorer s => [s.Full, s.Local],
        InputComplexityScorer s => [s.Flow],
        StirringScorer s => [s.Flow],
        TwoSidedScorer s => FlowsOf(s.Inner),
        ScoreDensityScorer s => s.Members.SelectMany(FlowsOf).Distinct(),
        _ => [],
    };

    // A deliberately simple custom compressor: 8 bits per distinct byte value.
    private sealed class CountingCompressor : ICompressor
    {
        public string Name => "Counting";

        public long CompressedBits(ReadOnlySpan<byte> pixels, int channels, int height, int width)
        {
            var seen = new HashSet<byte>();
            foreach (var p in pixels)
            {
                seen.Add(p);
            }

            return 8L * seen.Count;
        }
    }
}
