using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Tests.Data;
using FlowOod.Tests.Persistence.Golden;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// The model files of Golden/vN were written once by the FlowOod commit that introduced format version N (see the
// README.md in each folder). Today's code must read them, give their recorded scores, and still persist exactly the
// tensor keys they hold: TorchSharp names state-dict entries after (private) fields, so renaming e.g. ActNorm's
// log_scale would silently break every saved model. One derived class per format version.
public abstract class GoldenFileTests(string version, Func<ulong, ScoringNoise> storedSeeded)
{
    // The recorded scores were computed on the machine that wrote the files; another CPU's float kernels (vector widths,
    // fused multiply-adds) differ in the last bits of float32 sums. Measured between the AVX-512 machine that wrote the
    // files and an AVX2-only one: up to 7.6e-6 absolute on scores below 1 and 3e-6 relative above. Scores are compared to
    // a relative 1e-4 (absolute below 1): far above that drift, far below what a misread tensor or setting changes.
    private const double RelativeTolerance = 1e-4;

    public static TheoryData<string> Names => new(GoldenModels.All.Select(m => m.Name));

    private string Folder => Path.Combine(AppContext.BaseDirectory, "Persistence", "Golden", version);

    [Fact]
    public void GoldenFolder_HoldsEveryModelWithItsKeysAndScores()
    {
        var expected = GoldenModels.All
            .SelectMany(m => new[] { m.Name + ".flowood", m.Name + GoldenModels.KeysSuffix, m.Name + GoldenModels.ScoresSuffix })
            .Append("README.md");
        Directory.GetFiles(Folder).Select(Path.GetFileName).Where(f => f != ".gitattributes").Should().BeEquivalentTo(expected);
        foreach (var model in GoldenModels.All)
        {
            new FileInfo(FileOf(model.Name, ".flowood")).Length.Should().BeLessThan(1 << 20, "golden files stay small");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Load_GoldenFile_GivesItsRecordedScores(string name)
    {
        using var scope = NewDisposeScope();
        var golden = GoldenModels.All.Single(m => m.Name == name);
        var path = FileOf(name, ".flowood");
        GoldenModels.TensorKeys(path).Should().Equal(FrozenKeys(name), "the key list beside the file is the file's own table");

        var model = GoldenModels.Load(path);
        try
        {
            ShouldMatch(GoldenModels.Scores(model, golden.Inputs), RecordedScores(name), name, PValueStep(model));
        }
        finally
        {
            GoldenModels.Dispose(model);
        }
    }

    [Theory]
    [InlineData("scorer-likelihood-ratio", 9ul)]
    [InlineData("scorer-typicality", 3ul)]
    public void Load_GoldenSeededScorer_HasItsFormatVersionsMeaningOfSeeded(string name, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var scorer = FlowOod.Persistence.ModelFile.LoadScorer(FileOf(name, ".flowood"));

        ((FlowOod.Scoring.FlowScorer)scorer).Noise.Should().Be(storedSeeded(seed), "the meaning of Seeded in format {0}", version);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void FreshBuild_SameArchitectureAsGoldenFile_PersistsExactlyTheFrozenTensorKeys(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var model = GoldenModels.All.Single(m => m.Name == name).Create();
        var path = folder.Combine("fresh.flowood");
        try
        {
            GoldenModels.Save(model, path);
        }
        finally
        {
            GoldenModels.Dispose(model);
        }

        var actual = GoldenModels.TensorKeys(path);
        var frozen = FrozenKeys(name);
        var missing = frozen.Except(actual).ToList();
        var added = actual.Except(frozen).ToList();
        missing.Should().BeEmpty(
            "today's builders must persist every tensor of the {2} file {0} under the same name, dtype and shape (was a persisted field renamed?); they persist instead: {1}",
            name,
            string.Join("; ", added.Take(5)),
            version);
        added.Should().BeEmpty("today's builders must not persist tensors the {1} file {0} lacks", name, version);
        actual.Should().HaveSameCount(frozen);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ResaveThenLoad_GoldenFile_GivesIdenticalScoresAndState(string name)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var golden = GoldenModels.All.Single(m => m.Name == name);
        var first = GoldenModels.Load(FileOf(name, ".flowood"));
        object? second = null;
        try
        {
            var path = folder.Combine("resaved.flowood");
            GoldenModels.Save(first, path);
            second = GoldenModels.Load(path);

            GoldenModels.Scores(second, golden.Inputs).Should().BeEquivalentTo(GoldenModels.Scores(first, golden.Inputs), o => o.WithStrictOrdering());
            GoldenModels.TensorKeys(path).Should().Equal(FrozenKeys(name));
            foreach (var (original, reloaded) in GoldenModels.FlowsOf(first).Zip(GoldenModels.FlowsOf(second)))
            {
                var expected = original.state_dict();
                foreach (var (key, value) in reloaded.state_dict())
                {
                    value.dtype.Should().Be(expected[key].dtype, key);
                    value.eq(expected[key]).all().ReadBoolean().Should().BeTrue($"{key} is stored bit for bit");
                }
            }
        }
        finally
        {
            GoldenModels.Dispose(first);
            if (second is not null)
            {
                GoldenModels.Dispose(second);
            }
        }
    }

    private string FileOf(string name, string suffix) => Path.Combine(Folder, name + suffix);

    private string[] FrozenKeys(string name) =>
        File.ReadAllLines(FileOf(name, GoldenModels.KeysSuffix)).Where(line => line.Length > 0).ToArray();

    private SortedDictionary<string, double[]> RecordedScores(string name) =>
        GoldenModels.ParseScores(File.ReadAllText(FileOf(name, GoldenModels.ScoresSuffix)));

    // A p-value is a rank among the stored calibration scores (or bootstrap statistics): a score that moved in its last
    // bits may pass a stored value lying that close, so p-values may differ by one rank step, 1/(n + 1). The stored values
    // themselves are checked exactly through the threshold, which the loader also recomputes from them.
    private static double PValueStep(object model) => model switch
    {
        FlowOod.Detection.OodDetector detector => 1.0 / (detector.CalibrationScores.Count + 1),
        FlowOod.Scoring.TypicalityTest test => 1.0 / (test.BootstrapStatistics.Count + 1),
        _ => 0,
    };

    private void ShouldMatch(SortedDictionary<string, double[]> actual, SortedDictionary<string, double[]> expected, string name, double pValueStep)
    {
        actual.Keys.Should().Equal(expected.Keys);
        foreach (var (quantity, values) in expected)
        {
            actual[quantity].Should().HaveSameCount(values);
            for (int i = 0; i < values.Length; i++)
            {
                var tolerance = quantity == "pValues"
                    ? pValueStep * (1 + 1e-9)
                    : RelativeTolerance * Math.Max(1, Math.Abs(values[i]));
                actual[quantity][i].Should().BeApproximately(
                    values[i], tolerance, "{0} {1}[{2}] as recorded when the {3} file was written", name, quantity, i, version);
            }
        }
    }
}

// Format v1's "Seeded" was the batch-dependent stream now called SeededStream.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GoldenV1Tests() : GoldenFileTests("v1", ScoringNoise.SeededStream);

// From format v2 on, "Seeded" is keyed by each input's values.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GoldenV2Tests() : GoldenFileTests("v2", ScoringNoise.Seeded);
