using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Embeddings;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Gating;
using FlowOod.Tests.Persistence.Golden;
using FlowOod.Training;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// One small, valid model file of every kind, with the load method of its kind and a use of what loaded (scores of a fixed
// batch): the golden files of the current format version (five flow builders, every FlowOod scorer kind, a detector and
// a typicality test), a two-sided scorer, a DoSE scorer, a gate on a classifier layer, a gate over a detector of the
// inputs, an embedding detector and a stirring scorer.
public sealed class ModelFileKinds : IDisposable
{
    public ModelFileKinds()
    {
        FlowOodRuntime.EnsureAvailable();
        using var scope = NewDisposeScope();
        var golden = Path.Combine(AppContext.BaseDirectory, "Persistence", "Golden", "v2");
        foreach (var model in GoldenModels.All)
        {
            var inputs = model.Inputs;
            var file = Path.Combine(golden, model.Name + ModelFile.Extension);
            Kinds.Add(new ModelFileKind(
                model.Name,
                File.ReadAllBytes(file),
                LoaderOf(ModelFile.ReadInfo(file).Kind),
                loaded => loaded is TypicalityTest { BatchSize: not 4 } test
                    ? WholeBatches(test)
                    : GoldenModels.Scores(loaded, inputs).Values.SelectMany(v => v).ToArray(),
                IsGate: false));
        }

        Classifier = GateTestModels.Cnn(seed: 11);
        using var folder = new TempFolder();
        var path = folder.Combine("kind.flowood");

        using (var nll = ModelFile.LoadScorer(Path.Combine(golden, "scorer-nll" + ModelFile.Extension)))
        using (var twoSided = TwoSidedScorer.Fit(nll, GoldenModels.Images(20, 5)))
        {
            ModelFile.Save(twoSided, path);
            Kinds.Add(new ModelFileKind(
                "scorer-two-sided", File.ReadAllBytes(path), p => ModelFile.LoadScorer(p), loaded => ((IOodScorer)loaded).Score(GoldenModels.Images(10, 0)), IsGate: false));
        }

        var fit = new OodGateOptions
        {
            FeatureLayer = "fc1",
            TargetFalsePositiveRate = 0.1,
            CalibrationFraction = 0.5,
            FeatureFlow = new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 },
                Training = new TrainingOptions { Steps = 20, BatchSize = 32, Seed = 3 },
            },
            ClassNames = ["top", "middle", "bottom"],
            Seed = 7,
        };
        using (var layerGate = OodGate.Fit(Classifier, GateTestModels.InDistribution(40, seed: 1), fit))
        {
            layerGate.Save(path);
            Kinds.Add(new ModelFileKind("gate-layer", File.ReadAllBytes(path), LoadGate, ScoreGate, IsGate: true));
        }

        var detector = ModelFile.LoadDetector(Path.Combine(golden, "detector-nll" + ModelFile.Extension));
        using (var inputGate = OodGate.Create(Classifier, detector, GoldenModels.ImageShape, ["top", "middle", "bottom"], ownsDetector: true))
        {
            inputGate.Save(path);
            Kinds.Add(new ModelFileKind("gate-input", File.ReadAllBytes(path), LoadGate, ScoreGate, IsGate: true));
        }

        var embeddingOptions = new EmbeddingDetectorOptions
        {
            TargetFalsePositiveRate = 0.1,
            CalibrationFraction = 0.5,
            FeatureFlow = fit.FeatureFlow,
        };
        using (var embeddings = EmbeddingDetector.Fit(Embeddings.EmbeddingTestData.Rows(40, seed: 2, dimension: 4), embeddingOptions))
        {
            embeddings.Save(path);
            Kinds.Add(new ModelFileKind(
                "embedding-detector",
                File.ReadAllBytes(path),
                p => EmbeddingDetector.Load(p),
                loaded => ((EmbeddingDetector)loaded).Predict(Embeddings.EmbeddingTestData.Rows(10, seed: 0, dimension: 4)).Select(d => d.Score).ToArray(),
                IsGate: false,
                MutationSeed: 19));
        }

        // A DoSE scorer on the golden NLL scorer's flow (its own mutation stream, so the streams of the kinds above stay as they were).
        using (var nll = (NegativeLogLikelihoodScorer)ModelFile.LoadScorer(Path.Combine(golden, "scorer-nll" + ModelFile.Extension)))
        using (var dose = DoseScorer.Fit(nll.Flow, GoldenModels.Images(20, 5), chunkSize: 7, ScoringNoise.Seeded(3)))
        {
            ModelFile.Save(dose, path);
            Kinds.Add(new ModelFileKind(
                "scorer-dose", File.ReadAllBytes(path), p => ModelFile.LoadScorer(p), loaded => ((IOodScorer)loaded).Score(GoldenModels.Images(10, 0)), IsGate: false, MutationSeed: 23));
        }

        // A stirring scorer (added after the seeded mutation test was written: mutants from a stream of its own) on the
        // golden NLL scorer's flow, fitted on arithmetic images.
        using (var nll = (NegativeLogLikelihoodScorer)ModelFile.LoadScorer(Path.Combine(golden, "scorer-nll" + ModelFile.Extension)))
        using (var stirring = StirringScorer.Fit(nll.Flow, GoldenModels.Images(20, 5), chunkSize: 7, noise: ScoringNoise.Seeded(3)))
        {
            ModelFile.Save(stirring, path);
            Kinds.Add(new ModelFileKind(
                "scorer-stirring",
                File.ReadAllBytes(path),
                p => ModelFile.LoadScorer(p),
                loaded => ((IOodScorer)loaded).Score(GoldenModels.Images(10, 0)),
                IsGate: false,
                MutationSeed: 29));
        }
    }

    // The classifier both gates were made for (a tiny CNN on [1, 8, 8] images).
    public nn.Module<Tensor, Tensor> Classifier { get; }

    public List<ModelFileKind> Kinds { get; } = [];

    public ModelFileKind this[string name] => Kinds.Single(k => k.Name == name);

    public void Dispose() => Classifier.Dispose();

    // Disposes whatever a load returned (a flow, scorer, detector, typicality test or gate).
    public static void Release(object loaded) => (loaded as IDisposable)?.Dispose();

    // The load method of a kind of file (the kind of the valid file: a damaged header must not choose the method).
    private static Func<string, object> LoaderOf(string kind) => kind switch
    {
        "flow" => path => ModelFile.LoadFlow(path, GoldenModels.LoadOptions),
        "scorer" => path => ModelFile.LoadScorer(path, GoldenModels.LoadOptions),
        "detector" => path => ModelFile.LoadDetector(path, GoldenModels.LoadOptions),
        "typicality-test" => path => ModelFile.LoadTypicalityTest(path, GoldenModels.LoadOptions),
        _ => throw new InvalidDataException($"No golden file holds a {kind}."),
    };

    // A typicality test whose stored batch size M was changed (within the file's limit) is a valid test for batches of M:
    // it is used as its contract says, with whole batches of M (at least the 12 rows of the fixed batch).
    private static double[] WholeBatches(TypicalityTest test)
    {
        var rows = test.BatchSize * ((11 / test.BatchSize) + 1);
        return test.TestBatches(GoldenModels.Images(rows, 0)).SelectMany(r => new[] { r.MeanNegativeLogLikelihood, r.Statistic, r.PValue }).ToArray();
    }

    private object LoadGate(string path) => OodGate.Load(path, Classifier);

    // A gate whose stored input shape was changed to one its classifier also accepts (checked at load) is a valid gate for
    // inputs of that shape: it classifies one input of its shape (zeros, a valid 8-bit image); the original shape gets
    // the fixed batch.
    private static double[] ScoreGate(object loaded)
    {
        var gate = (OodGate)loaded;
        var batch = gate.InputShape.SequenceEqual(GoldenModels.ImageShape)
            ? GoldenModels.Images(10, 0)
            : zeros([1, .. gate.InputShape]);
        return gate.Classify(batch).Select(d => d.Score).ToArray();
    }
}

// A valid model file, how to load it and how to use what loaded. Load may throw ModelFormatException (and, for a gate,
// GateMismatchException): the exceptions the load methods document for a damaged file. MutationSeed: a kind added after
// the seeded mutation test was written draws its mutants from a generator of its own, so the mutants of the earlier kinds
// (one shared stream) stay the ones the test has always checked.
public sealed record ModelFileKind(string Name, byte[] Bytes, Func<string, object> Load, Func<object, double[]> Score, bool IsGate, int? MutationSeed = null)
{
    public override string ToString() => Name;
}
