using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using FlowOod.Detection;
using FlowOod.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

/// <summary>
/// An out-of-distribution gate for a TorchSharp image classifier: every prediction comes with a calibrated OOD verdict
/// ("this is a shirt, p-value 0.41" or "refused: out of distribution, p-value 0.002").
/// </summary>
/// <remarks>
/// <para>For an input x of shape <see cref="InputShape"/>, the classifier gives C logits ℓ(x); the gate returns the label
/// argmax ℓ, the probabilities softmax(ℓ), and the verdict of an <see cref="OodDetector"/>: a score s(x) (higher = more
/// OOD), its conformal p-value p = (1 + #{calibration scores ≥ s}) / (n + 1), and IsOutOfDistribution = (p ≤ α), i.e.
/// s &gt; <see cref="Threshold"/>. With exchangeable in-distribution inputs the rate of refused in-distribution inputs
/// is at most α (see <see cref="OodDetector"/>).</para>
/// <para>A gate from <see cref="Fit"/> scores the classifier's own features with a <see cref="FeatureSpaceScorer"/>
/// (−log density of the standardised features under a flow, in nats): the output of a named layer, read with a forward
/// hook during the gate's classifier call (one forward gives both logits and features), or a user function. A gate from
/// <see cref="Create"/> uses any calibrated detector of the classifier's inputs (e.g. a pixel scorer).</para>
/// <para>The classifier stays the caller's: the gate never moves, trains, disposes it, changes its mode or keeps gradients
/// for it. It must be in evaluation mode (<c>eval()</c>) and stay so; its weights must not change while a gate uses it
/// (<see cref="Save"/> checks). All forwards run under inference mode. A feature-layer gate registers one forward hook
/// on that layer (removed by <see cref="Dispose"/>); the hook acts only inside the gate's own calls, on the calling thread,
/// so your own calls of the classifier return exactly what they returned before. TorchSharp keeps hooks in a plain
/// dictionary, so do not construct or dispose a gate while the same classifier runs on another thread.</para>
/// <para>Exactness: libtorch chooses kernels by batch size, so the same input can get different last bits in batches of
/// different sizes, and its CPU matrix products may round differently for data that is not 16-byte aligned. The gate
/// therefore evaluates every batch in chunks of exactly <see cref="ChunkSize"/> inputs, each copied into a buffer of its
/// own and the last padded with zero inputs: an input's decision is bit-identical whatever batch, position, memory
/// address or thread it comes in (a single input costs one classifier forward of a whole chunk; a feature flow that
/// FlowOod computes in managed code scores only the chunk's real inputs, since there a row's score depends on that row
/// alone). Calibration scores are computed the same way, so a calibration
/// input gets exactly its calibration score back.</para>
/// <para>Threads and ownership: a constructed gate is immutable and safe for concurrent <see cref="Classify"/> calls. A
/// fitted or loaded gate owns its detector (and its flow); <see cref="Create"/> says with <c>ownsDetector</c>. Disposing
/// twice is harmless; calls after disposal throw <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed class OodGate : IDisposable
{
    /// <summary>The default <see cref="ChunkSize"/>: inputs per fixed-size evaluation.</summary>
    public const int DefaultChunkSize = 16;

    /// <summary>The largest <see cref="ChunkSize"/> accepted.</summary>
    public const int MaxChunkSize = 4096;

    internal const string FileKind = "gate";

    private readonly nn.Module<Tensor, Tensor> classifier;
    private readonly long[] inputShape;
    private OodDetector? detector;
    private bool ownsDetector;
    private int disposed;

    internal OodGate(
        nn.Module<Tensor, Tensor> classifier,
        long[] inputShape,
        IReadOnlyList<string>? classNames,
        FeatureSource source,
        string? featureName,
        Func<Tensor, Tensor>? extractor,
        int chunkSize,
        Device? device,
        ClassifierFingerprint? fingerprint)
    {
        this.classifier = classifier;
        this.inputShape = inputShape;
        Source = source;
        Evaluator = new GateEvaluator(classifier, inputShape, source, featureName, extractor, chunkSize, device);
        InputShape = Array.AsReadOnly(inputShape);
        if (source == FeatureSource.Layer)
        {
            FeatureLayer = featureName;
        }
        else if (source == FeatureSource.Extractor)
        {
            FeatureExtractorName = featureName;
        }

        try
        {
            var (classes, dimension) = Evaluator.Probe();
            ClassCount = classes;
            FeatureDimension = dimension;
            GateChecks.CheckClassNames(classNames, classes, "classNames");
            ClassNames = classNames is null
                ? Array.AsReadOnly(Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray())
                : Array.AsReadOnly(classNames.ToArray());
            ClassifierFingerprint = fingerprint ?? ClassifierFingerprint.Of(classifier);
        }
        catch
        {
            Evaluator.Dispose();
            throw;
        }
    }

    /// <summary>The shape of one input, e.g. <c>[1, 28, 28]</c>; a batch is <c>[N, ...InputShape]</c>.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>C, the number of classes (the classifier's output is <c>[N, C]</c>), ≥ 2.</summary>
    public int ClassCount { get; }

    /// <summary>The C class names in logit order; by default <c>"0"</c> … <c>"C−1"</c>.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>α, the target false-positive rate of the detector, in (0, 1).</summary>
    public double TargetFalsePositiveRate => Detector.TargetFalsePositiveRate;

    /// <summary>The detector's threshold, in the scorer's unit: a score strictly above it is refused.</summary>
    public double Threshold => Detector.Threshold;

    /// <summary>The name of the classifier layer whose output is the feature vector; null for a gate with a feature
    /// extractor function or a detector of inputs.</summary>
    public string? FeatureLayer { get; }

    /// <summary>The stored name of the feature extractor function; null for a gate on a feature layer or a detector of inputs.</summary>
    public string? FeatureExtractorName { get; }

    /// <summary>The fixed number of inputs per evaluation (see the remarks of <see cref="OodGate"/>).</summary>
    public int ChunkSize => Evaluator.ChunkSize;

    /// <summary>The fingerprint of the classifier the gate was fitted (or created) with; <see cref="Load"/> checks it.</summary>
    public ClassifierFingerprint ClassifierFingerprint { get; }

    /// <summary>The calibrated detector (scorer, calibration scores, α).</summary>
    public OodDetector Detector => detector ?? throw new InvalidOperationException("The gate is not built yet.");

    internal FeatureSource Source { get; }

    // The padded, chunked inference (and the layer hook) of this gate.
    internal GateEvaluator Evaluator { get; }

    // D for a feature gate, 0 for a gate over a detector of inputs.
    internal int FeatureDimension { get; }

    /// <summary>
    /// Fits a gate: extracts features of <paramref name="inDistribution"/> from the classifier (a forward hook on
    /// <see cref="OodGateOptions.FeatureLayer"/>, or <see cref="OodGateOptions.FeatureExtractor"/>), trains the
    /// feature-space flow on a random training part (<see cref="FeatureSpaceScorer.Fit(Func{Tensor, Tensor}, Tensor, FeatureSpaceFitOptions?, CancellationToken)"/>)
    /// and calibrates an <see cref="OodDetector"/> at α = <see cref="OodGateOptions.TargetFalsePositiveRate"/> on the
    /// held-out part (<see cref="OodGateOptions.CalibrationFraction"/>, rounded; the split is drawn from a generator seeded
    /// with <see cref="OodGateOptions.Seed"/>, not from torch's).
    /// </summary>
    /// <param name="classifier">The caller's classifier, in evaluation mode: <c>[N, ...InputShape]</c> → logits <c>[N, C]</c>, C ≥ 2. Never modified.</param>
    /// <param name="inDistribution">In-distribution inputs <c>[N, ...InputShape]</c>, float32, finite; InputShape is taken
    /// from it. The held-out part needs at least ⌈1/α⌉ inputs and the training part at least 2.</param>
    /// <param name="options">The settings.</param>
    /// <param name="progress">Default null. Receives <see cref="GateFitProgress"/> reports, on the calling thread: the
    /// inputs whose features were extracted, the flow's training steps (with the trainer's <see cref="Training.TrainingProgress"/>,
    /// every <see cref="Training.TrainingOptions.ProgressInterval"/> steps and at the end), then the calibration inputs scored.</param>
    /// <param name="cancellationToken">Checked between chunks and before every training step.</param>
    /// <returns>The gate; it owns its detector and flow (the classifier stays the caller's).</returns>
    /// <exception cref="ArgumentException">Bad options, input, feature layer (the message lists the classifier's layers),
    /// features, or classifier output shape; inputs of more than 2²⁴ entries, or chunks (<see cref="OodGateOptions.ChunkSize"/>
    /// inputs) of more than 2²⁸.</exception>
    /// <exception cref="InvalidOperationException">The classifier (or one of its submodules) is in training mode: call
    /// <c>eval()</c> on it first (checked before the data is read).</exception>
    /// <exception cref="Training.TrainingDivergedException">The feature flow's training diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static OodGate Fit(
        nn.Module<Tensor, Tensor> classifier,
        Tensor inDistribution,
        OodGateOptions options,
        IProgress<GateFitProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(inDistribution);
        ArgumentNullException.ThrowIfNull(options);
        return GateFitting.Fit(classifier, inDistribution, options, progress, cancellationToken);
    }

    /// <summary>
    /// A gate over an already calibrated detector whose scorer takes the classifier's inputs <c>[N, ...InputShape]</c>
    /// (e.g. a pixel scorer such as <see cref="InputComplexityScorer"/> or <see cref="LikelihoodRatioScorer"/>). Its
    /// <see cref="ChunkSize"/> is <see cref="DefaultChunkSize"/>; the scorer sees chunks of that size (padded with zero
    /// inputs), so it must accept zero inputs.
    /// </summary>
    /// <param name="classifier">The caller's classifier, in evaluation mode: <c>[N, ...InputShape]</c> → logits <c>[N, C]</c>, C ≥ 2. Never modified.</param>
    /// <param name="detector">The calibrated detector.</param>
    /// <param name="inputShape">The shape of one input, e.g. <c>[1, 28, 28]</c>; every dimension positive, at most 2²⁴ entries.</param>
    /// <param name="classNames">The C class names (each 1-256 characters); default <c>"0"</c> … <c>"C−1"</c>.</param>
    /// <param name="ownsDetector">Whether disposing the gate disposes <paramref name="detector"/> (default false).</param>
    /// <returns>The gate.</returns>
    /// <exception cref="ArgumentException">Bad shape or class names, a classifier output that is not <c>[1, C]</c> with
    /// C ≥ 2 for one input, or a scorer that rejects inputs of the shape.</exception>
    /// <exception cref="InvalidOperationException">The classifier (or one of its submodules) is in training mode: call
    /// <c>eval()</c> on it first.</exception>
    public static OodGate Create(
        nn.Module<Tensor, Tensor> classifier,
        OodDetector detector,
        IReadOnlyList<long> inputShape,
        IReadOnlyList<string>? classNames = null,
        bool ownsDetector = false)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(inputShape);
        var shape = Shapes.CheckEventShape(inputShape.ToArray(), nameof(inputShape));
        if (GateChecks.InputSizeProblem(shape, DefaultChunkSize) is { } tooLarge)
        {
            throw new ArgumentException($"The input shape {Shapes.Format(shape)} {tooLarge}.", nameof(inputShape));
        }

        var gate = new OodGate(classifier, shape, classNames, FeatureSource.Input, null, null, DefaultChunkSize, null, fingerprint: null);
        try
        {
            gate.Attach(detector, ownsDetector);
            gate.Evaluator.ProbeScorer();
            return gate;
        }
        catch
        {
            gate.ownsDetector = false;
            gate.Dispose();
            throw;
        }
    }

    /// <summary>Classifies a batch and gives one OOD verdict per input.</summary>
    /// <param name="batch"><c>[N, ...InputShape]</c>, N ≥ 1, float32, finite, not on the meta device; moved to the
    /// classifier's device chunk by chunk.</param>
    /// <returns>N decisions in batch order; each equals, bit for bit, <see cref="ClassifyOne"/> of that input.</returns>
    /// <exception cref="ArgumentException">Wrong shape or dtype, empty, NaN/Inf, or on the meta device.</exception>
    /// <exception cref="InvalidOperationException">The classifier was put in training mode, or returned the wrong shape or a NaN score.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public GateDecision[] Classify(Tensor batch) => Decide(batch, nameof(batch));

    /// <summary>Classifies one input (<see cref="Classify"/> of a batch of one).</summary>
    /// <param name="input"><c>[...InputShape]</c> (no batch dimension), float32, finite.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException">Wrong shape or dtype, NaN/Inf, or on the meta device.</exception>
    /// <exception cref="InvalidOperationException">The classifier was put in training mode.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public GateDecision ClassifyOne(Tensor input)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(input);
        if (!input.Sizes().AsSpan().SequenceEqual(inputShape))
        {
            throw new ArgumentException(
                $"Expected one input of shape {Shapes.Format(inputShape)} (no batch dimension), got {Shapes.Format(input.Sizes())}"
                + (input.Dimensions == inputShape.Length + 1 ? "; use Classify for a batch." : "."),
                nameof(input));
        }

        using var batch = input.unsqueeze(0);
        return Decide(batch, nameof(input))[0];
    }

    /// <summary>
    /// Saves the gate as one model file (kind <c>"gate"</c>, see <c>docs/model-format.md</c>): the detector (scorer with
    /// its flow, calibration scores, α), the feature-layer or extractor name, the input shape, the class names, the chunk
    /// size and the classifier's fingerprint. Not the classifier: save it yourself. Written atomically (a temporary file
    /// in the same folder, flushed, renamed over the target).
    /// </summary>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="NotSupportedException">The detector's scorer cannot be saved.</exception>
    /// <exception cref="InvalidOperationException">The classifier's weights changed since the gate was built.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(path);
        var now = ClassifierFingerprint.Of(classifier);
        if (ClassifierFingerprint.DescribeDifference(now) is { } difference)
        {
            throw new InvalidOperationException(
                $"The classifier changed since the gate was built ({difference}); the gate's calibration no longer holds for it. Fit a new gate.");
        }

        GateFile.Save(this, path, metadata);
    }

    /// <summary>Loads a gate saved by <see cref="Save"/> for <paramref name="classifier"/>, after checking its fingerprint.</summary>
    /// <param name="path">The gate file.</param>
    /// <param name="classifier">The classifier the gate was fitted with, in evaluation mode (it stays the caller's).</param>
    /// <param name="options">α override, device, model-file options (whose catalog holds the feature extractor of a gate fitted with one).</param>
    /// <returns>The gate; it owns what it loaded. Without an α override it gives the saved gate's decisions bit for bit.</returns>
    /// <exception cref="Persistence.ModelFormatException">The file is not a valid gate file (truncated, corrupted, not a gate,
    /// sizes out of bounds, a detector of inputs whose scorer fails on its own input shape, ...).</exception>
    /// <exception cref="GateMismatchException">The classifier is not the one the gate was fitted with, or the file's input
    /// shape, class names or feature layer do not fit it (a damaged file, or another classifier with the same weights).</exception>
    /// <exception cref="ArgumentException">Bad options (α override out of range or below 1/n, the extractor missing or
    /// given when not needed).</exception>
    /// <exception cref="InvalidOperationException">The classifier (or one of its submodules) is in training mode: call
    /// <c>eval()</c> on it first. This is checked before the file is read, so a classifier in training mode gives this
    /// exception, never <see cref="GateMismatchException"/>, whatever the file holds.</exception>
    public static OodGate Load(string path, nn.Module<Tensor, Tensor> classifier, GateLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(classifier);
        options ??= new GateLoadOptions();
        options.Validate();
        GateChecks.EnsureEvaluationMode(classifier);
        var actual = ClassifierFingerprint.Of(classifier);
        var holder = new GateHolder();
        var stored = GateFile.Load(path, actual, options, holder.LayerFeatures);
        OodGate? gate = null;
        try
        {
            try
            {
                gate = new OodGate(
                    classifier,
                    stored.InputShape,
                    stored.ClassNames,
                    stored.Source,
                    stored.FeatureName,
                    stored.Source == FeatureSource.Extractor ? (options.Model?.Catalog ?? Persistence.ModelCatalog.BuiltIn).FeatureExtractor : null,
                    stored.ChunkSize,
                    null,
                    actual);
            }
            catch (ArgumentException e)
            {
                // The fingerprint matched, yet the file's input shape, class names or feature layer do not fit the classifier.
                throw new GateMismatchException(
                    $"The gate file '{path}' does not fit the classifier whose fingerprint it holds: {e.Message} The file is damaged, or the "
                    + "classifier's code differs from the one the gate was fitted with.",
                    e);
            }

            holder.Gate = gate;
            if (gate.FeatureDimension != stored.FeatureDimension)
            {
                throw new GateMismatchException(
                    $"The gate file '{path}' expects {stored.FeatureDimension} features from {gate.Evaluator.SourceDescription.ToLowerInvariant()}, which gives {gate.FeatureDimension}.");
            }

            gate.Attach(stored.Detector, owns: false);
            if (gate.Source == FeatureSource.Input)
            {
                gate.Evaluator.ProbeStoredScorer(path);
            }

            gate.Attach(stored.Detector, owns: true);
            return gate;
        }
        catch
        {
            gate?.Dispose();
            stored.Detector.Dispose();
            throw;
        }
    }

    /// <summary>Removes the forward hook and disposes what the gate owns (never the classifier); harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        Evaluator.Dispose();
        if (ownsDetector)
        {
            detector?.Dispose();
        }
    }

    // The fitted scorer on features (null for a gate over a detector of inputs).
    internal FeatureSpaceScorer? FeatureScorer => Evaluator.FeatureScorer;

    internal void Attach(OodDetector calibrated, bool owns)
    {
        detector = calibrated;
        ownsDetector = owns;
        Evaluator.FeatureScorer = Source == FeatureSource.Input ? null : (FeatureSpaceScorer)calibrated.Scorer;
        Evaluator.InputScorer = Source == FeatureSource.Input ? calibrated.Scorer : null;
    }

    private GateDecision[] Decide(Tensor batch, string parameterName)
    {
        ThrowIfDisposed();
        var (scores, labels, probabilities) = Evaluator.Run(batch, parameterName, CancellationToken.None);
        var calibrated = Detector;
        var names = ClassNames;
        var decisions = new GateDecision[scores.Length];
        for (int i = 0; i < decisions.Length; i++)
        {
            // No score is NaN here: the scorers' path checked each once (GateEvaluator).
            var prediction = calibrated.PredictChecked(scores[i]);
            decisions[i] = new GateDecision(
                labels[i], names[labels[i]], probabilities[i], prediction.IsOutOfDistribution, prediction.Score, prediction.PValue, calibrated.Threshold);
        }

        return decisions;
    }

    // The extractor the feature-space scorer calls (in training and for Detector.Predict): the layer's features of a batch.
    internal Tensor LayerFeatures(Tensor batch)
    {
        ThrowIfDisposed();
        return Evaluator.LayerFeatures(batch);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);

    // The feature-layer extractor of a gate being loaded: its scorer is read before the gate exists.
    private sealed class GateHolder
    {
        public OodGate? Gate { get; set; }

        public Tensor LayerFeatures(Tensor batch) =>
            (Gate ?? throw new InvalidOperationException("The gate is not built yet.")).LayerFeatures(batch);
    }
}
