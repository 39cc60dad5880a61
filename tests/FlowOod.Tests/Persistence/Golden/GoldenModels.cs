using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Detection;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence.Golden;

/// <summary>
/// The models of the golden model files in <c>Golden/v1</c>: how each was built, how it is loaded, saved and scored on
/// fixed inputs. Shared by the generator (<c>tests/GoldenGenerator</c>, which writes one folder per format version, once: v1 at
/// FlowOod commit c692288 under its old name GoldenV1Generator, v2 at the commit that introduced v2) and by <c>GoldenFileTests</c>, which checks that today's code still reads those files, gives their recorded
/// scores and builds the same persisted tensor keys.
/// </summary>
/// <remarks>
/// Builders initialise weights from torch's global generator; the recipes never seed it, they save and restore its state
/// around every build, so building a golden model leaves the caller's random stream as it was. Parameters are then
/// perturbed from a local <see cref="Generator"/> (zero-initialised couplings would otherwise be identities), ActNorm is
/// initialised and BatchNorm statistics are warmed up on arithmetic inputs. All inputs are arithmetic (k/255 images,
/// small rationals for tabular data), so they are the same on every machine.
/// </remarks>
internal static class GoldenModels
{
    public const string KeysSuffix = ".keys.txt";
    public const string ScoresSuffix = ".scores.json";

    public static readonly long[] ImageShape = [1, 8, 8];

    public const int FeatureCount = 6;

    /// <summary>Every golden model, by file name (without extension).</summary>
    public static IReadOnlyList<GoldenModel> All { get; } =
    [
        new("flow-realnvp", () => RealNvpFlow(1, noise: false), Images),
        new("flow-glow-lu", () => Prepared(() => Glow.Create(ImageShape, GlowOptions.Tiny with { Width = 4 }), 2), Images),
        new("flow-glow-plain", () => Prepared(() => Glow.Create(ImageShape, GlowOptions.Tiny with { Width = 4, LuDecomposedConvolution = false, Conditioner = new HighwayConditionerFactory(4, 2), ScaleActivation = ScaleActivation.SoftClamp(1.5) }), 3), Images),
        new("flow-single-scale-realnvp", () => Prepared(() => SingleScaleRealNvp.Create(ImageShape, new SingleScaleRealNvpOptions { Mask = HalfMask.Vertical, Couplings = 2, Conditioner = new ResNetConditionerFactory(4, 1) }), 4), Images),
        new("flow-tabular-realnvp", () => Prepared(() => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 3, HiddenWidth = 8 }), 5), Tabular),
        new("scorer-nll", () => new NegativeLogLikelihoodScorer(RealNvpFlow(6, noise: true), LikelihoodUnit.BitsPerDim, chunkSize: 7), Images),
        new("scorer-likelihood-ratio", () => new LikelihoodRatioScorer(RealNvpFlow(7, noise: true), RealNvpFlow(8, noise: true), chunkSize: 13, ScoringNoise.Seeded(9)), Images),
        new("scorer-input-complexity-png", () => new InputComplexityScorer(RealNvpFlow(9, noise: true), new PngCompressor(), chunkSize: 5), Images),
        new("scorer-input-complexity-deflate", () => new InputComplexityScorer(RealNvpFlow(10, noise: true), new DeflateCompressor()), Images),
        new("scorer-typicality", () => TypicalityScorer.Fit(RealNvpFlow(11, noise: true), Images(24, 40), chunkSize: 9, ScoringNoise.Seeded(3)), Images),
        new("scorer-waic", () => new WaicScorer([RealNvpFlow(12, noise: true), RealNvpFlow(13, noise: true)], chunkSize: 11), Images),
        new("scorer-feature-space", FeatureSpace, Images),
        new("typicality-test", () => TypicalityTest.Fit(RealNvpFlow(14, noise: true), Images(40, 50), batchSize: 4, new TypicalityTestOptions { Alpha = 0.1, BootstrapSamples = 200, Seed = 5 }), Images),
        new("detector-nll", () => OodDetector.Calibrate(new NegativeLogLikelihoodScorer(RealNvpFlow(15, noise: true), LikelihoodUnit.Nats), Images(30, 60), 0.1), Images),
    ];

    /// <summary>The extractor of the feature-space scorer: the first <see cref="FeatureCount"/> pixels, doubled.</summary>
    public static Tensor Features(Tensor batch) => batch.flatten(1).narrow(1, 0, FeatureCount).Times(2);

    public static ModelLoadOptions LoadOptions { get; } = new() { Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(Features) };

    /// <summary>[n, 1, 8, 8] images k/255 with k an arithmetic function of the position; <paramref name="offset"/> picks another set.</summary>
    public static Tensor Images(int n, int offset)
    {
        var values = new float[n * 64];
        for (int i = 0; i < n; i++)
        {
            for (int h = 0; h < 8; h++)
            {
                for (int w = 0; w < 8; w++)
                {
                    var k = ((i + offset) * 53 + h * 29 + w * 7 + h * w * 3 + offset * 11) % 256;
                    values[(i * 64) + (h * 8) + w] = k / 255f;
                }
            }
        }

        return tensor(values, [n, .. ImageShape]);
    }

    /// <summary>[n, 5] rows of small rationals in [−2, 2].</summary>
    public static Tensor Tabular(int n, int offset) => Rows(n, offset, 5);

    /// <summary>[n, features] rows of small rationals in [−2, 2].</summary>
    public static Tensor Rows(int n, int offset, int features)
    {
        var values = new float[n * features];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < features; j++)
            {
                values[(i * features) + j] = ((((i + offset) * 7) + (j * 3) + (i * j)) % 11 - 5) / 2.5f;
            }
        }

        return tensor(values, [n, features]);
    }

    /// <summary>The scores recorded for a model: named vectors of doubles computed on its fixed inputs.</summary>
    public static SortedDictionary<string, double[]> Scores(object model, Func<int, int, Tensor> inputs)
    {
        using var scope = NewDisposeScope();
        var batch = inputs(10, 0);
        var result = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        switch (model)
        {
            case NormalizingFlow flow:
                // Through a scorer, whose bin-centre dequantization makes the log-density deterministic (a flow's own
                // LogProb draws dequantization noise when the flow has it).
                result["nllNats"] = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.Nats).Score(batch);
                break;
            case OodDetector detector:
                var scores = detector.Scorer.Score(batch);
                result["scores"] = scores;
                result["threshold"] = [detector.Threshold];
                result["pValues"] = scores.Select(detector.PValue).ToArray();
                break;
            case TypicalityTest test:
                var results = test.TestBatches(inputs(12, 0));
                result["meanNll"] = results.Select(r => r.MeanNegativeLogLikelihood).ToArray();
                result["statistics"] = results.Select(r => r.Statistic).ToArray();
                result["pValues"] = results.Select(r => r.PValue).ToArray();
                result["threshold"] = [test.Threshold];
                break;
            case IOodScorer scorer:
                result["scores"] = scorer.Score(batch);
                break;
            default:
                throw new ArgumentException($"{model.GetType().Name} is not a golden model.", nameof(model));
        }

        return result;
    }

    public static void Save(object model, string path)
    {
        switch (model)
        {
            case NormalizingFlow flow:
                ModelFile.Save(flow, path);
                break;
            case OodDetector detector:
                ModelFile.Save(detector, path);
                break;
            case TypicalityTest test:
                ModelFile.Save(test, path);
                break;
            case IOodScorer scorer:
                ModelFile.Save(scorer, path);
                break;
            default:
                throw new ArgumentException($"{model.GetType().Name} is not a golden model.", nameof(model));
        }
    }

    /// <summary>Loads a golden file with the load method of its kind (read from its header).</summary>
    public static object Load(string path) => ModelFile.ReadInfo(path).Kind switch
    {
        "flow" => ModelFile.LoadFlow(path, LoadOptions),
        "scorer" => ModelFile.LoadScorer(path, LoadOptions),
        "detector" => ModelFile.LoadDetector(path, LoadOptions),
        "typicality-test" => ModelFile.LoadTypicalityTest(path, LoadOptions),
        var other => throw new InvalidDataException($"'{path}' holds a {other}."),
    };

    /// <summary>Disposes the flows of a model.</summary>
    public static void Dispose(object model)
    {
        foreach (var flow in FlowsOf(model))
        {
            flow.Dispose();
        }
    }

    public static IEnumerable<NormalizingFlow> FlowsOf(object model) => model switch
    {
        NormalizingFlow f => [f],
        OodDetector d => FlowsOf(d.Scorer),
        TypicalityTest t => [t.Flow],
        NegativeLogLikelihoodScorer s => [s.Flow],
        TypicalityScorer s => [s.Flow],
        WaicScorer s => s.Ensemble,
        LikelihoodRatioScorer s => [s.Foreground, s.Background],
        InputComplexityScorer s => [s.Flow],
        FeatureSpaceScorer s => [s.Flow],
        _ => throw new ArgumentException($"{model.GetType().Name} is not a golden model.", nameof(model)),
    };

    /// <summary>The tensor table of a model file as lines "name dtype [shape]", in file order.</summary>
    public static string[] TensorKeys(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var header = JsonNode.Parse(bytes.AsSpan(24, headerLength))!;
        return header["tensors"]!.AsArray()
            .Select(t => string.Create(
                CultureInfo.InvariantCulture,
                $"{t!["name"]!.GetValue<string>()} {t["dtype"]!.GetValue<string>()} [{string.Join(", ", t["shape"]!.AsArray().Select(d => d!.GetValue<long>()))}]"))
            .ToArray();
    }

    public static string ScoresJson(SortedDictionary<string, double[]> scores)
    {
        var node = new JsonObject();
        foreach (var (name, values) in scores)
        {
            node[name] = new JsonArray(values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());
        }

        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public static SortedDictionary<string, double[]> ParseScores(string json)
    {
        var result = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (name, values) in JsonNode.Parse(json)!.AsObject())
        {
            result[name] = values!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        }

        return result;
    }

    /// <summary>Writes every golden model, its key list and its scores to <paramref name="folder"/>.</summary>
    public static void WriteAll(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var golden in All)
        {
            using var scope = NewDisposeScope();
            var model = golden.Create();
            try
            {
                var path = Path.Combine(folder, golden.Name + ModelFile.Extension);
                Save(model, path);
                File.WriteAllText(Path.Combine(folder, golden.Name + KeysSuffix), string.Join("\n", TensorKeys(path)) + "\n", new UTF8Encoding(false));

                // The recorded scores are those of the file as loaded, the same path the tests take.
                var loaded = Load(path);
                try
                {
                    File.WriteAllText(Path.Combine(folder, golden.Name + ScoresSuffix), ScoresJson(Scores(loaded, golden.Inputs)), new UTF8Encoding(false));
                }
                finally
                {
                    Dispose(loaded);
                }
            }
            finally
            {
                Dispose(model);
            }
        }
    }

    private static NormalizingFlow RealNvpFlow(int seed, bool noise) =>
        Prepared(() => RealNvp.Create(ImageShape, new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1, DequantizationNoise = noise }), seed);

    private static FeatureSpaceScorer FeatureSpace()
    {
        var flow = Prepared(() => TabularRealNvp.Create(FeatureCount, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 }), 16);
        var standardizer = new FeatureStandardizer(
            Enumerable.Range(0, FeatureCount).Select(j => 0.75 + (0.125 * j)).ToArray(),
            Enumerable.Range(0, FeatureCount).Select(j => 0.5 + (0.0625 * j)).ToArray());
        return new FeatureSpaceScorer(Features, flow, standardizer, chunkSize: 4, extractorName: "first six pixels x2");
    }

    /// <summary>
    /// Builds a flow, perturbs its parameters from a local generator seeded with <paramref name="seed"/>, initialises its
    /// ActNorms, warms up its BatchNorm statistics and leaves it in eval mode.
    /// </summary>
    private static NormalizingFlow Prepared(Func<NormalizingFlow> build, int seed)
    {
        // Building and the train-mode forwards (dequantization noise) draw from torch's global generator: restore it.
        using var state = random.get_rng_state();
        try
        {
            return Prepare(build(), seed);
        }
        finally
        {
            random.set_rng_state(state);
        }
    }

    private static NormalizingFlow Prepare(NormalizingFlow flow, int seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        Func<int, int, Tensor> inputs = flow.EventShape.Count == 1 ? (n, offset) => Rows(n, offset, (int)flow.EventShape[0]) : Images;
        using (no_grad())
        {
            foreach (var parameter in flow.parameters())
            {
                parameter.PlusInPlace(randn(parameter.shape, parameter.dtype, generator: generator).TimesInPlace(0.1));
            }
        }

        flow.train();
        ActNorm.InitializeAll(flow, inputs(16, 100 + seed));
        using (no_grad())
        {
            for (int i = 0; i < 4; i++)
            {
                flow.LogProb(inputs(8, 200 + (10 * seed) + i));
            }
        }

        flow.eval();
        return flow;
    }
}

/// <summary>One golden model: its file name, how to build it, and its fixed inputs (count, offset) → batch.</summary>
internal sealed record GoldenModel(string Name, Func<object> Create, Func<int, int, Tensor> Inputs);
