using System;
using System.Linq;
using System.Threading;
using FlowOod.Components;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Self-supervised OOD score without a classifier or labels (Hendrycks et al., NeurIPS 2019; Golan &amp; El-Yaniv, NeurIPS
/// 2018): a small CNN f learns, on in-distribution images only, which of the four rotations r_k (k·90°) was applied; an
/// input is scored by how badly f recognises the rotations of it: score(x) = Σ_{k=0}^{3} −log softmax(f(r_k x))_k, in
/// nats. Higher = more OOD.
/// </summary>
/// <remarks>
/// <para>Why it belongs in a library about flows: Kirichenko et al. (2020) show that a flow's likelihood is dominated
/// by local pixel statistics and that flows detect OOD inputs once they work on features that carry the image's
/// content (a classifier's embedding). Predicting a rotation needs that content too — where a garment's collar or
/// sole is — yet needs no labels: the rotation is the label. An input whose content the network never saw (a digit,
/// a letter, a garment upside down) leaves it unsure of the rotation, and the score grows. Combine it with a flow's
/// score (<see cref="ScoreDensityScorer"/>) to also catch what rotations cannot tell apart (a constant image, noise).</para>
/// <para>What is fitted on what: <see cref="Train"/> fits f on the given in-distribution images (each step a batch of
/// B images, each shown in its four rotations, cross-entropy with Adam); nothing else is fitted and no OOD data is
/// used. Inputs are square images <c>[N, C, S, S]</c> in [0, 1] (S a multiple of 4), float32, on any device; the
/// network (<c>RotationNetwork</c>, its layers in its remarks) runs on its own device in evaluation mode under
/// inference mode in chunks of <see cref="ChunkSize"/> images. Cost per image: 4 passes of a network of
/// (S/2)²·9·C·w + (S/4)²·9·(2w² + 4w²) + 2w·(S/4)²·h + 4h multiply-adds: 1.7 M for 28×28 grey images at the defaults.</para>
/// <para>Threads: the network is never written after training, so any number of threads may score at once. The scorer
/// owns its network and frees it in <see cref="Dispose"/>.</para>
/// </remarks>
[ComponentName("RotationPrediction")]
public sealed class RotationPredictionScorer : IOodScorer, IComponent<RotationPredictionScorer>
{
    /// <summary>The number of rotations predicted: 0°, 90°, 180°, 270°.</summary>
    public const int Rotations = 4;

    /// <summary>The default <see cref="ChunkSize"/>: 64 images, 256 network inputs at once (larger chunks were slower on a 2-core CPU).</summary>
    public const int DefaultChunkSize = 64;

    /// <summary>The largest image side accepted (bounds the network's size when a file is read).</summary>
    public const int MaxSize = 512;

    private readonly RotationNetwork network;
    private readonly Device device;
    private int disposed;

    private RotationPredictionScorer(RotationNetwork network, int channels, int size, RotationPredictionOptions options, int chunkSize)
    {
        this.network = network;
        network.eval();
        device = network.parameters().First().device;
        Channels = channels;
        Size = size;
        Options = options;
        ChunkSize = chunkSize;
    }

    /// <summary>The network (for the ONNX export); never written after training.</summary>
    internal RotationNetwork Network => network;

    /// <summary>Image channels C.</summary>
    public int Channels { get; }

    /// <summary>Image side S (images are S × S).</summary>
    public int Size { get; }

    /// <summary>The network's sizes and how it was trained.</summary>
    public RotationPredictionOptions Options { get; }

    /// <summary>Images passed through the network at once (times 4 rotations).</summary>
    public int ChunkSize { get; }

    /// <inheritdoc/>
    public string Name => "Rotation prediction (nats, Σ_k −log p(k | r_k x))";

    /// <summary>
    /// Trains the rotation network on in-distribution images and returns the scorer.
    /// </summary>
    /// <param name="inDistributionImages"><c>[N, C, S, S]</c> float32 images in [0, 1], N ≥ <see cref="RotationPredictionOptions.BatchSize"/>, S a multiple of 4.</param>
    /// <param name="options">Sizes and training settings (default <see cref="RotationPredictionOptions"/>).</param>
    /// <param name="chunkSize">Images scored at once (default <see cref="DefaultChunkSize"/>).</param>
    /// <param name="cancellationToken">Stops training between steps.</param>
    /// <returns>The trained scorer, on the images' device. Initial weights are drawn from torch's global generator (as
    /// every FlowOod layer's are); batches from a generator seeded with <see cref="RotationPredictionOptions.Seed"/>.</returns>
    /// <exception cref="ArgumentException">The images are not square float32 images in [0, 1] of a side divisible by 4, or fewer than a batch.</exception>
    public static RotationPredictionScorer Train(
        Tensor inDistributionImages, RotationPredictionOptions? options = null, int chunkSize = DefaultChunkSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inDistributionImages);
        options ??= new RotationPredictionOptions();
        options.Validate(nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        var (channels, size) = CheckImages(inDistributionImages, null, nameof(inDistributionImages));
        long count = inDistributionImages.size(0);
        if (count < options.BatchSize)
        {
            throw new ArgumentException($"Training needs at least one batch ({options.BatchSize}) of images; got {count}.", nameof(inDistributionImages));
        }

        var network = new RotationNetwork(channels, size, options.Width, options.Hidden, inDistributionImages.device);
        try
        {
            Fit(network, inDistributionImages, options, cancellationToken);
            return new RotationPredictionScorer(network, channels, size, options, chunkSize);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>score(x) = Σ_k −log p(k | r_k x) in nats per image; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, C, S, S]</c> float32 images in [0, 1] with this scorer's C and S, on any device.</param>
    /// <returns>One finite score per image.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape or dtype, or values outside [0, 1] or not finite.</exception>
    public double[] Score(Tensor batch)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        ArgumentNullException.ThrowIfNull(batch);
        CheckImages(batch, (Channels, Size), nameof(batch));
        long count = batch.size(0);
        var scores = new double[count];
        using var inference = inference_mode();
        for (long start = 0; start < count; start += ChunkSize)
        {
            using var scope = NewDisposeScope();
            var chunk = batch.narrow(0, start, Math.Min(ChunkSize, count - start)).to(device);
            var losses = RotationLosses(network, chunk).sum(0L).to(ScalarType.Float64).cpu();
            losses.data<double>().CopyTo(scores, (int)start);
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>Writes the sizes, the training settings and every weight.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        writer.WriteInt("channels", Channels);
        writer.WriteInt("size", Size);
        writer.WriteInt("width", Options.Width);
        writer.WriteInt("hidden", Options.Hidden);
        writer.WriteInt("steps", Options.Steps);
        writer.WriteInt("batchSize", Options.BatchSize);
        writer.WriteDouble("learningRate", Options.LearningRate);
        writer.WriteLong("seed", Options.Seed);
        writer.WriteInt("chunkSize", ChunkSize);
        foreach (var (name, value) in network.NamedParameters())
        {
            using var scope = NewDisposeScope();
            writer.WriteDoubles("weights." + name, value.detach().to(ScalarType.Float64).cpu().data<double>().ToArray());
        }
    }

    /// <summary>Rebuilds a saved scorer on the CPU; it owns its network.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or out of range.</exception>
    public static RotationPredictionScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var channels = reader.ReadInt("channels", 1, 64);
        var size = reader.ReadInt("size", 4, MaxSize);
        if (size % 4 != 0)
        {
            throw reader.Invalid("size", "must be a multiple of 4");
        }

        var options = new RotationPredictionOptions
        {
            Width = reader.ReadInt("width", 1, RotationPredictionOptions.MaxWidth),
            Hidden = reader.ReadInt("hidden", 1, RotationPredictionOptions.MaxHidden),
            Steps = reader.ReadInt("steps", 1, int.MaxValue),
            BatchSize = reader.ReadInt("batchSize", 1, RotationPredictionOptions.MaxBatchSize),
            LearningRate = reader.ReadDouble("learningRate", double.Epsilon, 10),
            Seed = reader.ReadLong("seed", long.MinValue, long.MaxValue),
        };
        var chunkSize = reader.ReadInt("chunkSize", 1, 1 << 16);
        RotationNetwork network;
        using (ParameterInitialization.Skip())
        {
            network = new RotationNetwork(channels, size, options.Width, options.Hidden, null);
        }

        try
        {
            using var noGrad = no_grad();
            foreach (var (name, value) in network.NamedParameters())
            {
                var stored = reader.ReadDoubles("weights." + name, checked((int)value.numel()));
                using var scope = NewDisposeScope(); // the float64 tensor, its reshape and its cast
                value.copy_(tensor(stored, ScalarType.Float64).reshape(value.Sizes()).to(value.dtype));
            }

            return new RotationPredictionScorer(network, channels, size, options, chunkSize);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Frees the network. Harmless twice; do not dispose while a call is running.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            network.Dispose();
        }
    }

    // Per rotation k and image n: −log p(k | r_k x_n), shape [4, n].
    private static Tensor RotationLosses(RotationNetwork network, Tensor images)
    {
        using var scope = NewDisposeScope();
        long n = images.size(0);
        var rotated = cat(Enumerable.Range(0, Rotations).Select(k => Rotate(images, k)).ToArray(), 0);
        var logProbabilities = nn.functional.log_softmax(network.call(rotated), 1).reshape(Rotations, n, Rotations);
        var losses = stack(Enumerable.Range(0, Rotations).Select(k => logProbabilities[k].select(1, k).neg()).ToArray(), 0);
        return scope.MoveToOuter(losses);
    }

    private static Tensor Rotate(Tensor images, int k) => k == 0 ? images.alias() : images.rot90(k, (2, 3));

    private static void Fit(RotationNetwork network, Tensor images, RotationPredictionOptions options, CancellationToken cancellationToken)
    {
        long count = images.size(0);
        using var shuffle = new Generator(unchecked((ulong)options.Seed));
        using var optimizer = optim.Adam(network.parameters(), lr: options.LearningRate);
        network.train();
        Tensor? order = null;
        long cursor = count;
        try
        {
            for (int step = 0; step < options.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                if (cursor + options.BatchSize > count)
                {
                    order?.Dispose();
                    order = randperm(count, generator: shuffle).DetachFromDisposeScope();
                    cursor = 0;
                }

                var batch = images.index_select(0, order!.narrow(0, cursor, options.BatchSize).to(images.device));
                cursor += options.BatchSize;
                optimizer.zero_grad();
                var loss = RotationLosses(network, batch).mean();
                loss.backward();
                optimizer.step();
            }
        }
        finally
        {
            order?.Dispose();
            network.eval();
        }
    }

    // Shape, dtype, emptiness, device, then one host read of (min, max) for NaN/∞ and the [0, 1] range; the messages
    // follow NormalizingFlow's, so every scorer refuses a bad batch in the same words.
    private static (int Channels, int Size) CheckImages(Tensor images, (int Channels, int Size)? expected, string parameterName)
    {
        if (expected is { } e && (images.dim() != 4 || images.size(1) != e.Channels || images.size(2) != e.Size || images.size(3) != e.Size))
        {
            throw new ArgumentException($"Expected a batch of shape [N, {e.Channels}, {e.Size}, {e.Size}], got {Shapes.Format(images.Sizes())}.", parameterName);
        }

        if (images.dim() != 4 || images.size(2) != images.size(3) || images.size(2) % 4 != 0 || images.size(2) > MaxSize || images.size(1) is < 1 or > 64)
        {
            throw new ArgumentException(
                $"Rotation prediction takes square images [N, C, S, S] with S a multiple of 4 up to {MaxSize} and 1…64 channels, got {Shapes.Format(images.Sizes())}.",
                parameterName);
        }

        if (images.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Rotation prediction accepts Float32 batches, got {images.dtype}; convert the batch with .to_type(ScalarType.Float32).", parameterName);
        }

        if (images.size(0) == 0)
        {
            throw new ArgumentException("The batch is empty.", parameterName);
        }

        InputChecks.RejectMetaDevice(images, "The batch", parameterName);
        var (min, max) = InputChecks.MinMaxOnHost(images);
        if (double.IsNaN(min) || double.IsNaN(max) || double.IsInfinity(min) || double.IsInfinity(max))
        {
            throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
        }

        if (min < 0 || max > 1)
        {
            throw new ArgumentException($"Input values must lie in [0, 1]; this batch spans [{min}, {max}].", parameterName);
        }

        return ((int)images.size(1), (int)images.size(2));
    }
}
