using System;
using System.IO;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Embeddings;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Embeddings;

public sealed class EmbeddingDetectorTests(FittedEmbeddingDetector fixture, ITestOutputHelper output) : IClassFixture<FittedEmbeddingDetector>
{
    private EmbeddingDetector Detector => fixture.Detector;

    [Fact]
    public void SaveThenLoad_NeedsNoCode_AndAnswersBitForBit()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("embeddings.flowood");
        var rows = EmbeddingTestData.Rows(40, seed: 20).Concat(EmbeddingTestData.Rows(10, seed: 21, shift: 3)).ToArray();
        var before = Detector.Predict(rows);

        Detector.Save(path);
        ModelFile.ReadInfo(path).Kind.Should().Be(EmbeddingDetector.FileKind);
        using var loaded = EmbeddingDetector.Load(path);

        loaded.Dimension.Should().Be(EmbeddingTestData.Dimension);
        loaded.ChunkSize.Should().Be(Detector.ChunkSize);
        loaded.Threshold.Should().Be(Detector.Threshold);
        loaded.Detector.CalibrationScores.Should().Equal(Detector.Detector.CalibrationScores);
        loaded.Predict(rows).Should().Equal(before, "the loaded detector gives the saved one's answers bit for bit");
        ((FeatureSpaceScorer)loaded.Detector.Scorer).HasIdentityExtractor.Should().BeTrue();
    }

    [Fact]
    public void Load_WithAnAlphaOverride_RecomputesTheThreshold_AndRefusesAnAlphaBelowOneOverN()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("embeddings.flowood");
        Detector.Save(path);
        using (var loose = EmbeddingDetector.Load(path, targetFalsePositiveRate: 0.2))
        {
            loose.TargetFalsePositiveRate.Should().Be(0.2);
            loose.Threshold.Should().BeLessThan(Detector.Threshold);
        }

        var tooSmall = () => EmbeddingDetector.Load(path, targetFalsePositiveRate: 0.001);
        tooSmall.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("targetFalsePositiveRate");
        var outOfRange = () => EmbeddingDetector.Load(path, targetFalsePositiveRate: 1.5);
        outOfRange.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("targetFalsePositiveRate");
    }

    // Before: the only route was FeatureSpaceScorer.Fit(x => x, ...), whose file stores the lambda's compiler name and
    // refuses to load without the same function ("... is code, not data").
    [Fact]
    public void FeatureScorerOnPrecomputedFeatures_SavedFile_LoadsWithNoExtractor()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("scorer.flowood");
        using var features = tensor(EmbeddingTestData.Flat(EmbeddingTestData.Rows(200, seed: 30)), [200, EmbeddingTestData.Dimension]);
        using var scorer = FeatureSpaceScorer.FitOnFeatures(features, EmbeddingTestData.Options.FeatureFlow);
        scorer.HasIdentityExtractor.Should().BeTrue();
        scorer.ExtractorName.Should().Be(FeatureSpaceScorer.IdentityExtractorName);
        ModelFile.Save(scorer, path);

        using var loaded = (FeatureSpaceScorer)ModelFile.LoadScorer(path);
        loaded.HasIdentityExtractor.Should().BeTrue();
        loaded.Score(features).Should().Equal(scorer.Score(features));
    }

    [Fact]
    public void EveryInputForm_BatchSize_AndPosition_GiveTheSameAnswersBitForBit()
    {
        var rows = EmbeddingTestData.Rows(37, seed: 40).Concat(EmbeddingTestData.Rows(6, seed: 41, shift: 2.5)).ToArray();
        var all = Detector.Predict(rows);
        all.Should().HaveCount(rows.Length);

        Enumerable.Range(0, rows.Length).Select(i => Detector.PredictOne(rows[i])).Should().Equal(all);
        Enumerable.Range(0, rows.Length).Select(i => Detector.PredictOne(new ReadOnlyMemory<float>(rows[i]))).Should().Equal(all);
        Detector.Predict(EmbeddingTestData.Flat(rows), rows.Length).Should().Equal(all);
        using (var batch = tensor(EmbeddingTestData.Flat(rows), [rows.Length, EmbeddingTestData.Dimension]))
        {
            Detector.Predict(batch).Should().Equal(all);
        }

        foreach (var size in new[] { 3, 7, 16, 17 })
        {
            var pieces = rows.Chunk(size).SelectMany(piece => Detector.Predict(piece)).ToArray();
            pieces.Should().Equal(all, "batches of {0} give the answers of one batch", size);
        }

        var reversed = Detector.Predict(rows.Reverse().ToArray()).Reverse().ToArray();
        reversed.Should().Equal(all, "a row's answer does not depend on its position");
    }

    [Fact]
    public void EightThreads_GiveTheSerialAnswersBitForBit()
    {
        var pool = EmbeddingTestData.Rows(60, seed: 50).Concat(EmbeddingTestData.Rows(20, seed: 51, shift: 3)).ToArray();
        var random = new Random(2);
        var requests = Enumerable.Range(0, 96).Select(_ => (Start: random.Next(0, 70), Length: random.Next(1, 11))).ToArray();
        var serial = requests.Select(r => Detector.Predict(pool[r.Start..(r.Start + r.Length)])).ToArray();

        var concurrent = Concurrency.OnThreads(8, requests.Length, i => Detector.Predict(pool[requests[i].Start..(requests[i].Start + requests[i].Length)]));

        Enumerable.Range(0, requests.Length).Count(i => !concurrent[i].SequenceEqual(serial[i])).Should().Be(0);
    }

    [Fact]
    public void HeldOutInDistributionRows_AreFlaggedAtAboutAlpha_AndShiftedRowsMostly()
    {
        var inDistribution = Detector.Predict(EmbeddingTestData.Rows(2000, seed: 60));
        var rate = inDistribution.Count(p => p.IsOutOfDistribution) / 2000.0;
        // n = 200 calibration rows: the false-positive rate of one calibration set is Beta-distributed around
        // ⌊α(n + 1)⌋/(n + 1) ≈ 0.05 with standard deviation ≈ 0.015.
        rate.Should().BeInRange(0.01, 0.10);
        inDistribution.Should().OnlyContain(p => p.PValue > 0 && p.PValue <= 1 && p.IsOutOfDistribution == (p.PValue <= Detector.TargetFalsePositiveRate));
        inDistribution.Should().OnlyContain(p => p.IsOutOfDistribution == (p.Score > Detector.Threshold));

        var shifted = Detector.Predict(EmbeddingTestData.Rows(200, seed: 61, shift: 3));
        shifted.Count(p => p.IsOutOfDistribution).Should().BeGreaterThan(180, "rows shifted by 3 in every coordinate are far out of distribution");
        var nearby = Detector.Predict(EmbeddingTestData.Rows(200, seed: 62, shift: 1));
        output.WriteLine(
            $"α = {Detector.TargetFalsePositiveRate}, n = {Detector.Detector.CalibrationScores.Count}: in-distribution flagged {rate:P2} of 2000; "
            + $"shifted by 3: {shifted.Count(p => p.IsOutOfDistribution) / 200.0:P1}; shifted by 1: {nearby.Count(p => p.IsOutOfDistribution) / 200.0:P1}");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var one = EmbeddingTestData.Rows(1, seed: 63)[0];
        for (int i = 0; i < 200; i++)
        {
            Detector.PredictOne(one);
        }

        var single = watch.Elapsed.TotalMilliseconds / 200;
        var batch = EmbeddingTestData.Rows(1024, seed: 64);
        watch.Restart();
        Detector.Predict(batch);
        output.WriteLine($"PredictOne {single:F3} ms per row; Predict of 1024 rows {watch.Elapsed.TotalMilliseconds / 1024:F4} ms per row (D = 8, chunk 16, 1 thread)");
    }

    [Fact]
    public void BadRows_AreArgumentExceptions_NamingTheParameter()
    {
        var good = EmbeddingTestData.Rows(3, seed: 70);
        var nan = EmbeddingTestData.Rows(3, seed: 70);
        nan[1][4] = float.NaN;
        var infinite = EmbeddingTestData.Rows(3, seed: 70);
        infinite[2][0] = float.PositiveInfinity;
        var ragged = new[] { good[0], good[1][..5] };

        Expect(() => Detector.Predict(Array.Empty<float[]>()), "rows", "*no rows*");
        Expect(() => Detector.Predict(nan), "rows", "*Row 1, value 4 is NaN*");
        Expect(() => Detector.Predict(infinite), "rows", "*Row 2, value 0*");
        Expect(() => Detector.Predict(ragged), "rows", "*Row 1 has 5 values*");
        Expect(() => Detector.Predict([good[0], null!]), "rows", "*Row 1 is null*");
        Expect(() => Detector.PredictOne(new float[5]), "row", "*5 values are not 1 rows of 8*");
        Expect(() => Detector.PredictOne(new ReadOnlyMemory<float>(new float[9])), "row", "*9 values*");
        Expect(() => Detector.Predict(new float[16], 3), "values", "*16 values are not 3 rows of 8*");
        Expect(() => Detector.Predict(new float[16], 0), "rowCount", "*at least 1*");
        using (var float64 = zeros([2, EmbeddingTestData.Dimension], ScalarType.Float64))
        {
            Expect(() => Detector.Predict(float64), "rows", "*float32*");
        }

        using (var wide = zeros([2, 9]))
        {
            Expect(() => Detector.Predict(wide), "rows", "*[N, 8]*");
        }

        using (var empty = zeros([0, EmbeddingTestData.Dimension]))
        {
            Expect(() => Detector.Predict(empty), "rows", "*no rows*");
        }

        Expect(() => EmbeddingDetector.Fit(ragged), "rows", "*Row 1 has 5 values*row 0 has 8*");
        Expect(() => EmbeddingDetector.Fit(nan), "rows", "*NaN*");
        Expect(() => EmbeddingDetector.Fit(EmbeddingTestData.Rows(50, seed: 71, dimension: 1)), "rows", "*2 to*");
        Expect(() => EmbeddingDetector.Fit(EmbeddingTestData.Rows(30, seed: 72), EmbeddingTestData.Options), "rows", "*leave 12 for calibration*at least 20*");
        Expect(() => EmbeddingDetector.Fit(new float[15], 2), "values", "*15 values are not 2 rows of 7*");
        var badOptions = () => EmbeddingDetector.Fit(good, EmbeddingTestData.Options with { CalibrationFraction = 1 });
        badOptions.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("CalibrationFraction");
        var nullRows = () => EmbeddingDetector.Fit((float[][])null!);
        nullRows.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("rows");
    }

    // A finite row far beyond the data is an answer, not an exception: the flow's arithmetic would overflow, so the row is
    // not evaluated, scores +∞ and gets the smallest p-value; the other rows of its batch keep their answers.
    [Fact]
    public void FarRows_AreOutOfDistributionWithAnInfiniteScore_AndLeaveTheOtherRowsAlone()
    {
        var rows = EmbeddingTestData.Rows(5, seed: 80);
        var alone = Detector.Predict(rows);
        var far = Enumerable.Repeat(1e30f, EmbeddingTestData.Dimension).ToArray();
        var mixed = Detector.Predict([rows[0], rows[1], far, rows[2], rows[3], rows[4]]);

        mixed[2].IsOutOfDistribution.Should().BeTrue();
        mixed[2].Score.Should().Be(double.PositiveInfinity);
        mixed[2].PValue.Should().Be(1.0 / (Detector.Detector.CalibrationScores.Count + 1));
        mixed.Where((_, i) => i != 2).Should().Equal(alone);
        using var asTensor = tensor(far, [1, EmbeddingTestData.Dimension]);
        Detector.Predict(asTensor)[0].Should().Be(mixed[2]);
    }

    [Fact]
    public void AfterDispose_CallsThrowObjectDisposed()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("embeddings.flowood");
        Detector.Save(path);
        var loaded = EmbeddingDetector.Load(path);
        loaded.Dispose();
        loaded.Dispose();
        var predict = () => loaded.PredictOne(new float[EmbeddingTestData.Dimension]);
        predict.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Load_OfAnotherKindOfFile_IsAFormatError()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("detector.flowood");
        ModelFile.Save(Detector.Detector, path);
        var load = () => EmbeddingDetector.Load(path);
        load.Should().Throw<ModelFormatException>().WithMessage("*holds a detector, not a embedding-detector*");
        File.Exists(path).Should().BeTrue();
    }

    private static void Expect(Action call, string parameter, string message)
    {
        var thrown = call.Should().Throw<ArgumentException>().Which;
        thrown.ParamName.Should().Be(parameter);
        thrown.Message.Should().Match(message);
    }
}
