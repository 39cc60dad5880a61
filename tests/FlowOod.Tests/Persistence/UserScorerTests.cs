using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Components;
using FlowOod.Detection;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Scorers are components: a user's scorer that describes itself is saved and loaded like FlowOod's once registered, and
// FlowOod's scorers still write the JSON of format version 2 field for field.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class UserScorerTests
{
    private static readonly ModelLoadOptions WithUserScorers = new()
    {
        Catalog = ModelCatalog.BuiltIn.With<OffsetNllScorer>().With<ScaledConstantScorer>(),
    };

    [Fact]
    public void RegisteredUserScorer_SavesAndLoads_WithItsSettingsVectorsNoiseAndIdenticalScores()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var scorer = new OffsetNllScorer(Flow(), offset: 2.25, reference: [1.5, -0.25, 3], ScoringNoise.Seeded(17), ownsFlow: true);
        var batch = ScoringFlows.EightBitImages(9, ScalarType.Float32);
        var path = folder.Combine("user.flowood");

        ModelFile.Save(scorer, path);
        using var loaded = (OffsetNllScorer)ModelFile.LoadScorer(path, WithUserScorers);

        Content(path).ToJsonString().Should().Be(
            "{\"type\":\"test-offset-nll\",\"flow\":0,\"offset\":2.25,\"reference\":\"scorer.reference\",\"noise\":{\"kind\":\"Seeded\",\"seed\":17}}");
        (loaded.Offset, loaded.Noise, loaded.OwnsFlow).Should().Be((2.25, ScoringNoise.Seeded(17), true));
        loaded.Reference.Should().Equal(1.5, -0.25, 3);
        loaded.Flow.Should().NotBeSameAs(scorer.Flow);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
        scorer.Score(batch).Should().NotEqual(new OffsetNllScorer(scorer.Flow, 0, [], ScoringNoise.Seeded(17)).Score(batch), "the offset is part of the score");
    }

    [Fact]
    public void UnregisteredUserScorer_FailsToLoad_NamingItAndHowToRegister()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var scorer = new OffsetNllScorer(Flow(), offset: 1, reference: [0.5], ScoringNoise.BinCentres, ownsFlow: true);
        var path = folder.Combine("user.flowood");
        ModelFile.Save(scorer, path);

        var act = () => ModelFile.LoadScorer(path);

        act.Should().Throw<ModelFormatException>()
            .WithMessage("*$.content.type: unknown scorer \"test-offset-nll\"*register its type*ModelLoadOptions.Catalog = ModelCatalog.BuiltIn.With<YourType>()*");
    }

    [Fact]
    public void DetectorOfAUserScorer_SavesAndLoads_WithIdenticalPredictions()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var calibration = ScoringFlows.EightBitImages(30, ScalarType.Float32);
        using var detector = OodDetector.Calibrate(
            new OffsetNllScorer(Flow(), offset: -4, reference: [2, 3], ScoringNoise.BinCentres, ownsFlow: true), calibration, 0.2, ownsScorer: true);
        var batch = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var path = folder.Combine("detector.flowood");

        ModelFile.Save(detector, path);
        using var loaded = ModelFile.LoadDetector(path, WithUserScorers);

        loaded.Scorer.Should().BeOfType<OffsetNllScorer>().Which.Offset.Should().Be(-4);
        loaded.Threshold.Should().Be(detector.Threshold);
        loaded.Predict(batch).Should().Equal(detector.Predict(batch));
    }

    [Fact]
    public void ScorerThatDoesNotDescribeItself_IsNotSaved_AndTheMessageSaysHow()
    {
        using var folder = new TempFolder();
        var path = folder.Combine("plain.flowood");

        var act = () => ModelFile.Save(new PlainScorer(), path);

        act.Should().Throw<NotSupportedException>()
            .WithMessage("*PlainScorer does not*IComponent<TSelf>*[ComponentName(*)]*ModelCatalog.BuiltIn.With<YourScorer>()*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void UserScorerHoldingCode_GetsItFromModelLoadOptionsProvided()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(4, ScalarType.Float32);
        using var scorer = new ScaledConstantScorer(new Scale(3), value: 1.5);
        var path = folder.Combine("code.flowood");
        ModelFile.Save(scorer, path);

        var without = () => ModelFile.LoadScorer(path, WithUserScorers);
        without.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*Scale*is code*ModelCatalog.WithProvided*");

        using var loaded = ModelFile.LoadScorer(path, WithUserScorers with { Catalog = WithUserScorers.Catalog.WithProvided("not a scale").WithProvided(new Scale(3)) });
        loaded.Score(batch).Should().Equal(4.5, 4.5, 4.5, 4.5);
        loaded.Score(batch).Should().Equal(scorer.Score(batch));
    }

    [Fact]
    public void UserScorerVectorReferringToAMissingTensor_IsAFormatErrorNamingIt()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var scorer = new OffsetNllScorer(Flow(), offset: 1, reference: [0.5, 0.75], ScoringNoise.BinCentres, ownsFlow: true);
        var path = folder.Combine("user.flowood");
        ModelFile.Save(scorer, path);
        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        var header = surgery.HeaderJson;
        header["content"]!["reference"] = "scorer.elsewhere";
        surgery.HeaderJson = header;
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadScorer(path, WithUserScorers);

        act.Should().Throw<ModelFormatException>().WithMessage("*tensor 'scorer.elsewhere' is missing*");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UserScorerNoise_FollowsTheFormatVersion1Meaning_OfSeeded(bool stream)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var noise = stream ? ScoringNoise.SeededStream(17) : ScoringNoise.Seeded(17);
        using var scorer = new OffsetNllScorer(Flow(), offset: 1, reference: [0.5], noise, ownsFlow: true);
        var path = folder.Combine("user.flowood");
        ModelFile.Save(scorer, path);
        File.WriteAllBytes(path, ModelFileSurgery.Open(File.ReadAllBytes(path)).Build(version: 1));

        var load = () => ModelFile.LoadScorer(path, WithUserScorers);

        if (stream)
        {
            load.Should().Throw<ModelFormatException>().WithMessage("*$.content.noise.kind SeededStream does not exist in format version 1*");
        }
        else
        {
            using var loaded = (OffsetNllScorer)load();
            loaded.Noise.Should().Be(ScoringNoise.SeededStream(17), "format version 1's \"Seeded\" is today's SeededStream");
        }
    }

    public static TheoryData<string, string> BuiltInScorers => new()
    {
        { "Nll", "{\"type\":\"NegativeLogLikelihood\",\"flow\":0,\"unit\":\"Nats\",\"chunkSize\":7,\"noise\":{\"kind\":\"BinCentres\",\"seed\":0}}" },
        { "Typicality", "{\"type\":\"Typicality\",\"flow\":0,\"entropy\":12.5,\"chunkSize\":9,\"noise\":{\"kind\":\"Seeded\",\"seed\":3}}" },
        { "Waic", "{\"type\":\"Waic\",\"ensemble\":[0,1],\"chunkSize\":11,\"noise\":{\"kind\":\"BinCentres\",\"seed\":0}}" },
        { "LikelihoodRatio", "{\"type\":\"LikelihoodRatio\",\"foreground\":0,\"background\":1,\"chunkSize\":13,\"noise\":{\"kind\":\"SeededStream\",\"seed\":9}}" },
        { "InputComplexityPng", "{\"type\":\"InputComplexity\",\"flow\":0,\"compressor\":\"PNG\",\"chunkSize\":5,\"noise\":{\"kind\":\"Random\",\"seed\":0}}" },
        { "InputComplexityCustom", "{\"type\":\"InputComplexity\",\"flow\":0,\"compressor\":\"Counting\",\"chunkSize\":256,\"noise\":{\"kind\":\"BinCentres\",\"seed\":0}}" },
        { "Stirring", "{\"type\":\"Stirring\",\"flow\":0,\"transforms\":\"Symmetries\",\"conditionalCorrection\":true,\"median\":-12.5,\"medianAbsoluteDeviation\":0.75,\"chunkSize\":9,\"noise\":{\"kind\":\"Seeded\",\"seed\":3}}" },
        { "FeatureSpace", "{\"type\":\"FeatureSpace\",\"flow\":0,\"featureDimension\":2,\"mean\":\"scorer.mean\",\"std\":\"scorer.std\",\"chunkSize\":4,\"extractorName\":\"features\"}" },
    };

    [Theory]
    [MemberData(nameof(BuiltInScorers))]
    public void BuiltInScorer_WritesTheContentOfFormatVersion2(string name, string expected)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        IOodScorer scorer = name switch
        {
            "Nll" => new NegativeLogLikelihoodScorer(Flow(), LikelihoodUnit.Nats, chunkSize: 7, ownsFlow: true),
            "Typicality" => new TypicalityScorer(Flow(), 12.5, chunkSize: 9, ScoringNoise.Seeded(3), ownsFlow: true),
            "Waic" => new WaicScorer([Flow(), Flow(seed: 5)], chunkSize: 11, ownsFlows: true),
            "LikelihoodRatio" => new LikelihoodRatioScorer(Flow(), Flow(seed: 6), chunkSize: 13, ScoringNoise.SeededStream(9), ownsFlows: true),
            "InputComplexityPng" => new InputComplexityScorer(Flow(), new PngCompressor(), chunkSize: 5, ScoringNoise.Random, ownsFlow: true),
            "InputComplexityCustom" => new InputComplexityScorer(Flow(), new CountingCompressor(), ownsFlow: true),
            "Stirring" => new StirringScorer(Flow(), -12.5, 0.75, chunkSize: 9, noise: ScoringNoise.Seeded(3), ownsFlow: true),
            "FeatureSpace" => new FeatureSpaceScorer(
                b => b.flatten(1).narrow(1, 0, 2),
                FlowOod.Models.TabularRealNvp.Create(2, new FlowOod.Models.TabularRealNvpOptions { Couplings = 2, HiddenWidth = 4 }),
                new FeatureStandardizer([0.5, 0.25], [1, 2]),
                chunkSize: 4,
                extractorName: "features",
                ownsFlow: true),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        using (scorer)
        {
            var path = folder.Combine("scorer.flowood");
            ModelFile.Save(scorer, path);
            Content(path).ToJsonString().Should().Be(expected);
        }
    }

    private static NormalizingFlow Flow(long seed = 21) => ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed);

    private static System.Text.Json.Nodes.JsonObject Content(string path) =>
        ModelFileSurgery.Open(File.ReadAllBytes(path)).HeaderJson["content"]!.AsObject();

    /// <summary>A test-local scorer: −log p(x) in nats under a flow, plus a constant offset; it also keeps a fitted vector.</summary>
    [ComponentName("test-offset-nll")]
    internal sealed class OffsetNllScorer : IOodScorer, IComponent<OffsetNllScorer>
    {
        public OffsetNllScorer(NormalizingFlow flow, double offset, IReadOnlyList<double> reference, ScoringNoise noise, bool ownsFlow = false)
        {
            Flow = flow;
            Offset = offset;
            Reference = [.. reference];
            Noise = noise;
            OwnsFlow = ownsFlow;
            flow.eval();
        }

        public NormalizingFlow Flow { get; }

        public double Offset { get; }

        public double[] Reference { get; }

        public ScoringNoise Noise { get; }

        public bool OwnsFlow { get; }

        public string Name => "NLL + offset (nats)";

        public static OffsetNllScorer Read(ComponentReader reader)
        {
            var offset = reader.ReadDouble("offset", -1e6, 1e6);
            var reference = reader.ReadDoubles("reference");
            var noise = reader.ReadNoise("noise");
            return new OffsetNllScorer(reader.ReadFlow("flow"), offset, reference, noise, ownsFlow: true);
        }

        public void Write(ComponentWriter writer)
        {
            writer.WriteFlow("flow", Flow);
            writer.WriteDouble("offset", Offset);
            writer.WriteDoubles("reference", Reference);
            writer.WriteNoise("noise", Noise);
        }

        public double[] Score(Tensor batch)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            return Flow.LogProb(batch, Noise).to(ScalarType.Float64).data<double>().ToArray().Select(lp => -lp + Offset).ToArray();
        }

        public void Dispose()
        {
            if (OwnsFlow)
            {
                Flow.Dispose();
            }
        }
    }

    /// <summary>Code a file cannot store: passed again at load time through ModelCatalog.WithProvided.</summary>
    internal sealed record Scale(double Factor);

    /// <summary>A test-local scorer without flows: a constant times a factor given as code at load time.</summary>
    [ComponentName("test-scaled-constant")]
    internal sealed class ScaledConstantScorer(Scale scale, double value) : IOodScorer, IComponent<ScaledConstantScorer>
    {
        public string Name => "scaled constant";

        public static ScaledConstantScorer Read(ComponentReader reader)
        {
            var scales = reader.Provided<Scale>();
            return scales.Count == 1
                ? new ScaledConstantScorer(scales[0], reader.ReadDouble("value", -10, 10))
                : throw reader.NotProvided("This scorer's Scale is code, not data: register one with ModelCatalog.WithProvided.");
        }

        public void Write(ComponentWriter writer) => writer.WriteDouble("value", value);

        public double[] Score(Tensor batch) => Enumerable.Repeat(scale.Factor * value, (int)batch.shape[0]).ToArray();

        public void Dispose()
        {
        }
    }

    private sealed class PlainScorer : IOodScorer
    {
        public string Name => "plain";

        public double[] Score(Tensor batch) => new double[batch.shape[0]];

        public void Dispose()
        {
        }
    }

    private sealed class CountingCompressor : ICompressor
    {
        public string Name => "Counting";

        public long CompressedBits(ReadOnlySpan<byte> pixels, int channels, int height, int width) => 8L * pixels.ToArray().Distinct().Count();
    }
}
