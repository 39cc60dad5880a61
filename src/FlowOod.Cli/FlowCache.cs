using FlowOod.Precision;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FlowOod.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// A flow trained by <see cref="FlowCache"/>, with what its training run did, a one-line summary and its training curve
/// (held-out bits/dim included when the training that made it evaluated them).
/// </summary>
internal sealed record TrainedFlow(NormalizingFlow Flow, TrainingResult Result, string Summary, TrainingCurve Curve);

/// <summary>
/// Trains the experiments' pixel flows the one way they are all trained (Adam, lr 10⁻³, the model's seed for the
/// initialisation and the trainer, a progress display) and keeps each trained flow, so that <c>flowood reproduce</c> trains
/// the baseline's RealNVP and Glow once and the latent view and the scorer comparison reuse them.
/// </summary>
/// <remarks>
/// A flow is found again when the model's stem, the steps, the batch size, the number of training images and the seed
/// are the same. With a <see cref="Folder"/>, every flow it trains is also saved there as a model file (with its
/// training summary and curve, <see cref="SavedFlows"/>), and a later cache on the same folder loads it instead of
/// training it again: an interrupted <c>flowood reproduce</c> resumes with the flows it had trained. The cache owns every flow it returns; callers must not dispose them, and may use them only until the
/// cache is disposed. Flows are returned in evaluation mode; a caller that switches one into training mode (BatchNorm
/// batch statistics) must switch it back. Initialisation seeds TorchSharp's global generator, so the cache belongs to the
/// application (the CLI), never to the library.
/// </remarks>
internal sealed class FlowCache : IDisposable
{
    private readonly Dictionary<string, TrainedFlow> flows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> trainingSets = [];
    private readonly ComputePrecision defaultPrecision;
    private bool disposed;

    /// <summary>A cache in memory only, training in <paramref name="precision"/> unless a request says otherwise.</summary>
    public FlowCache(ComputePrecision precision = ComputePrecision.Float32)
        : this(null, precision)
    {
    }

    /// <summary>
    /// A cache that also keeps its flows as model files in <paramref name="directory"/> (null: in memory only) and
    /// trains in <paramref name="precision"/> unless a request says otherwise.
    /// </summary>
    public FlowCache(string? directory, ComputePrecision precision)
    {
        Folder = directory;
        defaultPrecision = precision;
    }

    /// <summary>The folder of the saved flows; null: none are saved.</summary>
    public string? Folder { get; }

    /// <summary>Whether flows saved in <see cref="Folder"/> by an earlier cache are loaded (default); false: they are trained again and overwritten.</summary>
    public bool LoadSaved { get; init; } = true;

    /// <summary>Flows trained so far (cache misses).</summary>
    public int Trained { get; private set; }

    /// <summary>Requests answered from the cache.</summary>
    public int Reused { get; private set; }

    /// <summary>Flows loaded from <see cref="Folder"/> instead of being trained.</summary>
    public int Loaded { get; private set; }

    /// <summary>
    /// The trained flow of <paramref name="model"/>: found in the cache, or initialised with <paramref name="seed"/> and
    /// trained for <paramref name="steps"/> steps on the first <paramref name="trainImages"/> images of
    /// <paramref name="fashionTrain"/>. With <paramref name="evaluateHeldOut"/>, the training also evaluates held-out
    /// bits/dim every tenth of the run on up to <see cref="TrainingCurve.MaxHeldOutImages"/> images of
    /// <paramref name="fashionTrain"/> it does not train on (from <see cref="BiasesOptions.HeldOutStart"/>, or right after
    /// the training images), for the training curve; the trained weights are the same either way.
    /// </summary>
    public TrainedFlow GetOrTrain(
        BaselineModel model,
        int steps,
        int batchSize,
        Data.ImageDataset fashionTrain,
        int trainImages,
        long seed,
        IAnsiConsole console,
        bool plain,
        ComputePrecision? precision = null,
        bool evaluateHeldOut = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(fashionTrain);
        ArgumentNullException.ThrowIfNull(console);
        ObjectDisposedException.ThrowIf(disposed, this);
        var count = Math.Min(trainImages, fashionTrain.Count);
        var chosen = precision ?? defaultPrecision;
        var key = string.Create(CultureInfo.InvariantCulture, $"{model.Stem}|{model.Description}|{fashionTrain.Name}|{steps}|{batchSize}|{count}|{seed}|{chosen}");
        if (flows.TryGetValue(key, out var found))
        {
            Reused++;
            console.WriteLine($"Reusing the trained {model.Stem} (seed {seed}, {steps} steps).");
            found.Flow.eval();
            return found;
        }

        if (Folder is not null && LoadSaved && SavedFlows.TryLoad(Folder, model.Stem, key, console) is { } saved)
        {
            flows[key] = saved;
            Loaded++;
            return saved;
        }

        var setKey = string.Create(CultureInfo.InvariantCulture, $"{fashionTrain.Name}|{count}");
        if (!trainingSets.TryGetValue(setKey, out var train))
        {
            train = fashionTrain.ToTensor(0, count);
            trainingSets[setKey] = train;
        }

        var (heldOutStart, heldOutCount) = evaluateHeldOut ? HeldOut(fashionTrain.Count, count, steps, batchSize) : (0, 0);
        using var heldOut = heldOutCount > 0 ? fashionTrain.ToTensor(heldOutStart, heldOutCount) : null;
        var curve = new TrainingCurve(model.Stem, Math.Min(batchSize, count), heldOut is null ? null
            : string.Create(CultureInfo.InvariantCulture, $"{heldOutCount} {fashionTrain.Name} images {heldOutStart}–{heldOutStart + heldOutCount - 1}"));
        var flow = Build(seed, model.Build);
        try
        {
            var trainer = new FlowTrainer(flow, new TrainingOptions
            {
                Steps = steps,
                BatchSize = batchSize,
                LearningRate = 1e-3,
                Seed = seed,
                ProgressInterval = Math.Max(1, steps / 50),
                EvaluationInterval = TrainingCurve.EvaluationInterval(steps),
                Precision = chosen,
            });
            var label = seed == 1 ? $"training {model.Stem}" : string.Create(CultureInfo.InvariantCulture, $"training {model.Stem} (seed {seed})");
            var result = TrainingDisplay.Run(console, plain, label, progress => trainer.Train(train, heldOut, curve.Recording(progress)));
            var parameters = flow.parameters().Sum(p => p.numel());
            var summary = string.Create(CultureInfo.InvariantCulture,
                $"{model.Description}, {parameters:N0} parameters: trained {result.Steps} steps × {batchSize} images on {count} Fashion-MNIST images in {result.Elapsed.TotalSeconds:F0} s (seed {seed}{(result.Precision == ComputePrecision.BFloat16 ? ", bf16 st-networks" : string.Empty)}), final loss {result.FinalLoss:F3} bits/dim");
            console.WriteLine(summary + ".");
            var trained = new TrainedFlow(flow, result, summary, curve);
            flows[key] = trained;
            Trained++;
            if (Folder is not null)
            {
                SavedFlows.Save(Folder, model.Stem, key, trained, console);
            }

            return trained;
        }
        catch
        {
            flow.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The held-out images of a training run on images 0 … <paramref name="trained"/> − 1 of a set of
    /// <paramref name="available"/>: from <see cref="BiasesOptions.HeldOutStart"/> when the training stays below it (as the
    /// biases experiment's held-out set), otherwise right after the training images; as many as
    /// <see cref="TrainingCurve.HeldOutImages"/> asks for, or fewer (possibly none) when the set runs out.
    /// </summary>
    public static (int Start, int Count) HeldOut(int available, int trained, int steps, int batchSize)
    {
        var start = trained <= BiasesOptions.HeldOutStart && available > BiasesOptions.HeldOutStart ? BiasesOptions.HeldOutStart : trained;
        return (start, Math.Max(0, Math.Min(TrainingCurve.HeldOutImages(steps, batchSize), available - start)));
    }

    /// <summary>
    /// Builds a flow whose initial weights come from torch's global generator seeded with <paramref name="seed"/>: the one
    /// place the tool (an application, which owns its process) writes that process-wide state. The library never does;
    /// TorchSharp 0.107's <c>nn.init.uniform_</c>/<c>normal_</c> overloads that take a generator were seen to advance the
    /// global generator all the same, so a private generator would not isolate the build either.
    /// </summary>
    public static NormalizingFlow Build(long seed, Func<NormalizingFlow> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        random.manual_seed(seed);
        return build();
    }

    /// <summary>Disposes every flow and training tensor the cache holds.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        foreach (var trained in flows.Values)
        {
            trained.Flow.Dispose();
        }

        foreach (var tensor in trainingSets.Values)
        {
            tensor.Dispose();
        }

        flows.Clear();
        trainingSets.Clear();
    }
}
