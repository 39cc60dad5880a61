using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
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
/// different sizes. The gate therefore evaluates every batch in chunks of exactly <see cref="ChunkSize"/> inputs, padding
/// the last chunk with zero inputs: an input's decision is bit-identical whatever batch, position or thread it comes
/// in (a single input costs one chunk's evaluation). Calibration scores are computed the same way, so a calibration
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

    // The most input entries a chunk may hold (1 GiB of float32): ChunkSize × entries of one input.
    private const long MaxChunkEntries = 1L << 28;

    private readonly nn.Module<Tensor, Tensor> classifier;
    private readonly long[] inputShape;
    private readonly Device device;
    private readonly LayerCapture? capture;
    private readonly Func<Tensor, Tensor>? extractor;
    private readonly string sourceDescription;
    private OodDetector? detector;
    private FeatureSpaceScorer? featureScorer;
    private bool ownsDetector;
    private int disposed;

    private OodGate(
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
        this.extractor = extractor;
        Source = source;
        ChunkSize = chunkSize;
        this.device = device ?? classifier.parameters().Select(p => p.device).FirstOrDefault() ?? CPU;
        EnsureEvaluationMode(classifier);
        InputShape = Array.AsReadOnly(inputShape);
        sourceDescription = source switch
        {
            FeatureSource.Layer => $"The classifier layer '{featureName}'",
            FeatureSource.Extractor => $"The feature extractor '{featureName}'",
            _ => "The detector's scorer",
        };
        if (source == FeatureSource.Layer)
        {
            FeatureLayer = featureName;
            capture = new LayerCapture(FindLayer(classifier, featureName!), featureName!);
        }
        else if (source == FeatureSource.Extractor)
        {
            FeatureExtractorName = featureName;
        }

        try
        {
            var (classes, dimension) = Probe();
            ClassCount = classes;
            FeatureDimension = dimension;
            CheckClassNames(classNames, classes, "classNames");
            ClassNames = classNames is null
                ? Array.AsReadOnly(Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray())
                : Array.AsReadOnly(classNames.ToArray());
            ClassifierFingerprint = fingerprint ?? ClassifierFingerprint.Of(classifier);
        }
        catch
        {
            capture?.Dispose();
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
    public int ChunkSize { get; }

    /// <summary>The fingerprint of the classifier the gate was fitted (or created) with; <see cref="Load"/> checks it.</summary>
    public ClassifierFingerprint ClassifierFingerprint { get; }

    /// <summary>The calibrated detector (scorer, calibration scores, α).</summary>
    public OodDetector Detector => detector ?? throw new InvalidOperationException("The gate is not built yet.");

    internal FeatureSource Source { get; }

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
        options.Validate();
        EnsureEvaluationMode(classifier);
        var shape = ValidateData(inDistribution, nameof(inDistribution));
        if (InputSizeProblem(shape, options.ChunkSize) is { } tooLarge)
        {
            throw new ArgumentException($"The inputs' shape {Shapes.Format(shape)} {tooLarge}.", nameof(inDistribution));
        }

        var count = inDistribution.shape[0];
        var calibrationCount = (long)Math.Round(count * options.CalibrationFraction, MidpointRounding.AwayFromZero);
        var required = OodDetector.RequiredCalibrationCount(options.TargetFalsePositiveRate);
        if (calibrationCount < required || count - calibrationCount < 2)
        {
            throw new ArgumentException(
                $"{count} in-distribution inputs with a calibration fraction of {options.CalibrationFraction} leave {calibrationCount} for calibration and "
                + $"{count - calibrationCount} for training the flow; α = {options.TargetFalsePositiveRate} needs at least {required} for calibration "
                + "(α ≥ 1/n) and the flow at least 2. Give more data, or change the fraction or α.",
                nameof(inDistribution));
        }

        var source = options.FeatureLayer is not null ? FeatureSource.Layer : FeatureSource.Extractor;
        var name = options.FeatureLayer ?? options.FeatureExtractorName ?? DescribeDelegate(options.FeatureExtractor!);
        var gate = new OodGate(
            classifier, shape, options.ClassNames, source, name, options.FeatureExtractor, options.ChunkSize, options.Device, fingerprint: null);
        try
        {
            var (trainIndices, calibrationIndices) = Split(count, calibrationCount, options.Seed);
            FeatureSpaceScorer scorer;
            double[] calibrationScores;
            using (var scope = NewDisposeScope())
            {
                var train = inDistribution.index_select(0, tensor(trainIndices, device: inDistribution.device));
                var calibration = inDistribution.index_select(0, tensor(calibrationIndices, device: inDistribution.device));
                Func<Tensor, Tensor> features = source == FeatureSource.Layer ? gate.LayerFeatures : options.FeatureExtractor!;
                var scorerName = source == FeatureSource.Layer ? $"classifier layer '{name}'" : name;
                scorer = FeatureSpaceScorer.FitNamed(
                    features,
                    scorerName,
                    train,
                    options.FeatureFlow,
                    cancellationToken,
                    progress is null ? null : new MappedProgress<ScoringProgress, GateFitProgress>(
                        progress, p => new GateFitProgress(GateFitPhase.ExtractingFeatures, p.Done, p.Total)),
                    progress is null ? null : new MappedProgress<Training.TrainingProgress, GateFitProgress>(
                        progress, p => new GateFitProgress(GateFitPhase.TrainingFlow, p.Step, p.TotalSteps) { Training = p }));
                try
                {
                    gate.featureScorer = scorer;
                    calibrationScores = gate.Run(calibration, nameof(inDistribution), cancellationToken, progress).Scores;
                }
                catch
                {
                    scorer.Dispose();
                    throw;
                }
            }

            OodDetector calibrated;
            try
            {
                calibrated = new OodDetector(scorer, options.TargetFalsePositiveRate, calibrationScores, ownsScorer: true);
            }
            catch
            {
                scorer.Dispose();
                throw;
            }

            gate.Attach(calibrated, owns: true);
            return gate;
        }
        catch
        {
            gate.Dispose();
            throw;
        }
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
        if (InputSizeProblem(shape, DefaultChunkSize) is { } tooLarge)
        {
            throw new ArgumentException($"The input shape {Shapes.Format(shape)} {tooLarge}.", nameof(inputShape));
        }

        var gate = new OodGate(classifier, shape, classNames, FeatureSource.Input, null, null, DefaultChunkSize, null, fingerprint: null);
        try
        {
            gate.Attach(detector, ownsDetector);
            gate.ProbeScorer();
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
        if (!input.shape.AsSpan().SequenceEqual(inputShape))
        {
            throw new ArgumentException(
                $"Expected one input of shape {Shapes.Format(inputShape)} (no batch dimension), got {Shapes.Format(input.shape)}"
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
    /// <param name="options">α override, feature extractor, device, model-file options.</param>
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
        EnsureEvaluationMode(classifier);
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
                    stored.Source == FeatureSource.Extractor ? options.FeatureExtractor : null,
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
                    $"The gate file '{path}' expects {stored.FeatureDimension} features from {gate.sourceDescription.ToLowerInvariant()}, which gives {gate.FeatureDimension}.");
            }

            gate.Attach(stored.Detector, owns: false);
            if (gate.Source == FeatureSource.Input)
            {
                ProbeStoredScorer(gate, path);
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

        capture?.Dispose();
        if (ownsDetector)
        {
            detector?.Dispose();
        }
    }

    internal static void CheckClassNames(IReadOnlyList<string>? names, int? classCount, string parameterName)
    {
        if (names is null)
        {
            return;
        }

        if (classCount is { } c && names.Count != c)
        {
            throw new ArgumentException($"{names.Count} class names were given for a classifier with {c} classes.", parameterName);
        }

        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] is not { Length: > 0 and <= 256 })
            {
                throw new ArgumentException($"Class name #{i} is null, empty or longer than 256 characters.", parameterName);
            }
        }
    }

    // The fitted scorer on features (null for a gate over a detector of inputs).
    internal FeatureSpaceScorer? FeatureScorer => featureScorer;

    private void Attach(OodDetector calibrated, bool owns)
    {
        detector = calibrated;
        ownsDetector = owns;
        featureScorer = Source == FeatureSource.Input ? null : (FeatureSpaceScorer)calibrated.Scorer;
    }

    private GateDecision[] Decide(Tensor batch, string parameterName)
    {
        ThrowIfDisposed();
        var (scores, labels, probabilities) = Run(batch, parameterName, CancellationToken.None);
        var calibrated = Detector;
        var names = ClassNames;
        var decisions = new GateDecision[scores.Length];
        for (int i = 0; i < decisions.Length; i++)
        {
            if (double.IsNaN(scores[i]))
            {
                throw new InvalidOperationException($"{calibrated.Scorer.Name} returned NaN for input {i}.");
            }

            var prediction = calibrated.Predict(scores[i]);
            decisions[i] = new GateDecision(
                labels[i], names[labels[i]], probabilities[i], prediction.IsOutOfDistribution, prediction.Score, prediction.PValue, calibrated.Threshold);
        }

        return decisions;
    }

    // Scores, labels and probabilities of every input, evaluated in chunks of exactly ChunkSize (the last padded).
    private (double[] Scores, int[] Labels, ReadOnlyCollection<float>[] Probabilities) Run(
        Tensor batch, string parameterName, CancellationToken cancellationToken, IProgress<GateFitProgress>? progress = null)
    {
        IntraOpThreads.Adopt();
        var count = ValidateBatch(batch, parameterName);
        EnsureEvaluationMode(classifier);
        var scores = new double[count];
        var labels = new int[count];
        var probabilities = new ReadOnlyCollection<float>[count];
        using var inference = inference_mode();
        progress?.Report(new GateFitProgress(GateFitPhase.Calibrating, 0, count));
        for (long start = 0; start < count; start += ChunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var length = (int)Math.Min(ChunkSize, count - start);
            var chunk = batch.narrow(0, start, length);
            if (chunk.device_type != device.type || chunk.device_index != device.index)
            {
                chunk = chunk.to(device);
            }

            if (length < ChunkSize)
            {
                chunk = cat([chunk, zeros([ChunkSize - length, .. inputShape], ScalarType.Float32, device)], 0);
            }

            var (logits, features) = Forward(chunk);
            CheckLogits(logits, chunk.shape[0]);
            var chunkScores = features is null ? ScoreInputs(chunk) : featureScorer!.ScoreFeatures(features, sourceDescription, parameterName);
            var logitValues = logits.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            var probabilityValues = softmax(logits.to_type(ScalarType.Float32), 1).cpu().data<float>().ToArray();
            for (int i = 0; i < length; i++)
            {
                var row = i * ClassCount;
                var label = 0;
                for (int c = 1; c < ClassCount; c++)
                {
                    if (logitValues[row + c] > logitValues[row + label])
                    {
                        label = c;
                    }
                }

                scores[start + i] = chunkScores[i];
                labels[start + i] = label;
                probabilities[start + i] = Array.AsReadOnly(probabilityValues.AsSpan(row, ClassCount).ToArray());
            }

            progress?.Report(new GateFitProgress(GateFitPhase.Calibrating, start + length, count));
        }

        return (scores, labels, probabilities);
    }

    // One classifier forward: its logits and, for a feature gate, the features [n, D] (float32 or float64 as produced).
    private (Tensor Logits, Tensor? Features) Forward(Tensor chunk)
    {
        switch (Source)
        {
            case FeatureSource.Layer:
                var (output, layerOutput) = capture!.Run(classifier, chunk);
                return (output, Flatten(layerOutput, chunk.shape[0]));
            case FeatureSource.Extractor:
                var logits = classifier.call(chunk);
                return (logits, extractor!(chunk));
            default:
                return (classifier.call(chunk), null);
        }
    }

    private Tensor Flatten(Tensor layerOutput, long rows)
    {
        if (layerOutput.Dimensions < 1 || layerOutput.shape[0] != rows)
        {
            throw new InvalidOperationException(
                $"{sourceDescription} returned shape {Shapes.Format(layerOutput.shape)} for a chunk of {rows} inputs; expected [{rows}, ...] (one row per input).");
        }

        return layerOutput.Dimensions == 2 ? layerOutput : layerOutput.reshape(rows, -1);
    }

    private double[] ScoreInputs(Tensor chunk)
    {
        var result = Detector.Scorer.Score(chunk);
        if (result is null || result.Length != chunk.shape[0])
        {
            throw new InvalidOperationException(
                $"{Detector.Scorer.Name} returned {result?.Length ?? 0} scores for a chunk of {chunk.shape[0]} inputs; expected one per input.");
        }

        return result;
    }

    // The extractor the feature-space scorer calls (in training and for Detector.Predict): the layer's features of a batch.
    private Tensor LayerFeatures(Tensor batch)
    {
        ThrowIfDisposed();
        EnsureEvaluationMode(classifier);
        using var inference = inference_mode();
        var input = batch.device_type != device.type || batch.device_index != device.index ? batch.to(device) : batch;
        return Forward(input).Features!;
    }

    // Runs one zero input: the classifier must return [1, C], C ≥ 2; a feature gate's features must be [1, D], D ≥ 2.
    private (int Classes, int Dimension) Probe()
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var probe = zeros([1, .. inputShape], ScalarType.Float32, device);
        Tensor logits;
        Tensor? features;
        try
        {
            (logits, features) = Forward(probe);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or InvalidOperationException))
        {
            var reason = e.Message.Split('\n', 2)[0].TrimEnd();
            throw new ArgumentException(
                $"The classifier (or the feature extractor) failed on one input of shape {Shapes.Format(inputShape)} "
                + $"(a batch {Shapes.Format(probe.shape)} of float32 on {device}): {reason}",
                "classifier",
                e);
        }

        if (logits is null || logits.Dimensions != 2 || logits.shape[0] != 1 || logits.shape[1] < 2 || !logits.is_floating_point())
        {
            throw new ArgumentException(
                $"The classifier must return logits [N, C] with C ≥ 2 classes (floating point); for one input of shape {Shapes.Format(inputShape)} it returned "
                + (logits is null ? "null" : $"{logits.dtype} of shape {Shapes.Format(logits.shape)}")
                + (logits is { Dimensions: 1 } ? " (no batch dimension?)" : logits is { Dimensions: 2 } && logits.shape[1] < 2 ? " (fewer than 2 classes)" : string.Empty) + ".",
                "classifier");
        }

        var classes = checked((int)logits.shape[1]);
        if (features is null)
        {
            return (classes, 0);
        }

        if (features.Dimensions != 2 || features.shape[1] < 2 || features.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException(
                $"{sourceDescription} must give at least 2 floating-point features per input; for one input it gave {features.dtype} of shape {Shapes.Format(features.shape)}.",
                Source == FeatureSource.Layer ? "FeatureLayer" : "FeatureExtractor");
        }

        return (classes, checked((int)features.shape[1]));
    }

    private void ProbeScorer()
    {
        using var scope = NewDisposeScope();
        var probe = zeros([1, .. inputShape], ScalarType.Float32, device);
        try
        {
            ScoreInputs(probe);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"The detector's scorer ({Detector.Scorer.Name}) rejects inputs of the gate's shape {Shapes.Format(inputShape)}: {e.Message}", "detector", e);
        }
    }

    // A gate over a detector of inputs was created only after its scorer scored a zero input of the gate's shape (Create),
    // and scoring is deterministic: a stored scorer that no longer does is a damaged file.
    private static void ProbeStoredScorer(OodGate gate, string path)
    {
        try
        {
            gate.ProbeScorer();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new Persistence.ModelFormatException(
                $"Model file '{path}' is invalid: its detector's scorer fails on a zero input of its input shape {Shapes.Format(gate.inputShape)}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Why inputs of <paramref name="shape"/> are too large for a gate of <paramref name="chunkSize"/> (null when they are
    /// not): at most <see cref="Components.ComponentLimits.MaxCount"/> entries per input and 2²⁸ per chunk.
    /// </summary>
    internal static string? InputSizeProblem(long[] shape, int chunkSize)
    {
        if (shape.Aggregate(1.0, (product, d) => product * d) > Components.ComponentLimits.MaxCount)
        {
            return $"has more than {Components.ComponentLimits.MaxCount} entries per input, the most a gate takes";
        }

        var chunk = Shapes.Product(shape) * chunkSize;
        return chunk > MaxChunkEntries
            ? $"with a chunk size of {chunkSize} makes chunks of {chunk} entries, more than the {MaxChunkEntries} a gate allows"
            : null;
    }

    private void CheckLogits(Tensor logits, long rows)
    {
        if (logits is null || logits.Dimensions != 2 || logits.shape[0] != rows || logits.shape[1] != ClassCount)
        {
            throw new InvalidOperationException(
                $"The classifier returned {(logits is null ? "null" : Shapes.Format(logits.shape))} for a chunk of {rows} inputs; expected [{rows}, {ClassCount}].");
        }
    }

    private long ValidateBatch(Tensor batch, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(batch, parameterName);
        if (!Shapes.EventMatches(batch.shape, inputShape))
        {
            throw new ArgumentException(
                $"Expected a batch of shape [N, {string.Join(", ", inputShape)}], got {Shapes.Format(batch.shape)}"
                + (batch.shape.AsSpan().SequenceEqual(inputShape) ? "; use ClassifyOne for a single input." : "."),
                parameterName);
        }

        if (batch.shape[0] == 0)
        {
            throw new ArgumentException("The batch is empty.", parameterName);
        }

        if (batch.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Expected float32 inputs, got {batch.dtype}; convert with .to_type(ScalarType.Float32).", parameterName);
        }

        InputChecks.RejectMetaDevice(batch, "The batch", parameterName);
        var (min, max) = InputChecks.MinMaxOnHost(batch);
        if (double.IsNaN(min) || double.IsInfinity(min) || double.IsInfinity(max))
        {
            throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
        }

        return batch.shape[0];
    }

    // In-distribution data for Fit: [N, ...], N ≥ 1, rank ≥ 2, float32, finite; returns the shape of one input.
    private static long[] ValidateData(Tensor data, string parameterName)
    {
        if (data.Dimensions < 2 || data.shape.Skip(1).Any(d => d <= 0))
        {
            throw new ArgumentException($"Expected in-distribution inputs [N, ...InputShape], got shape {Shapes.Format(data.shape)}.", parameterName);
        }

        if (data.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Expected float32 inputs, got {data.dtype}.", parameterName);
        }

        InputChecks.RejectMetaDevice(data, "The in-distribution data", parameterName);
        if (data.shape[0] > 0)
        {
            var (min, max) = InputChecks.MinMaxOnHost(data);
            if (double.IsNaN(min) || double.IsInfinity(min) || double.IsInfinity(max))
            {
                throw new ArgumentException("The in-distribution data contains NaN or infinite values.", parameterName);
            }
        }

        return data.shape[1..];
    }

    private static (long[] Train, long[] Calibration) Split(long count, long calibrationCount, int seed)
    {
        var order = new long[count];
        for (long i = 0; i < count; i++)
        {
            order[i] = i;
        }

        // Fisher-Yates with a private generator: torch's global generator is neither read nor advanced.
        var random = new Random(seed);
        for (long i = count - 1; i > 0; i--)
        {
            var j = random.NextInt64(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var calibration = order[..(int)calibrationCount];
        var train = order[(int)calibrationCount..];
        Array.Sort(calibration);
        Array.Sort(train);
        return (train, calibration);
    }

    private static nn.Module<Tensor, Tensor> FindLayer(nn.Module<Tensor, Tensor> classifier, string featureLayer)
    {
        var named = classifier.named_modules().ToList();
        var match = named.FirstOrDefault(m => m.name == featureLayer);
        if (match.module is null)
        {
            var names = named.Select(m => m.name).Where(n => n.Length > 0).ToList();
            throw new ArgumentException(
                $"The classifier has no layer named '{featureLayer}'. Its named_modules() are: "
                + (names.Count == 0 ? "(none)" : string.Join(", ", names.Take(200).Select(n => $"'{n}'")) + (names.Count > 200 ? ", ..." : string.Empty)) + ".",
                nameof(featureLayer));
        }

        return match.module as nn.Module<Tensor, Tensor> ?? throw new ArgumentException(
            $"The classifier's layer '{featureLayer}' is a {match.module.GetType().Name}, not a Module<Tensor, Tensor>, so a forward hook cannot read its output; "
            + "pick a layer with one tensor in and one out, or pass a FeatureExtractor.",
            nameof(featureLayer));
    }

    // FlowOod never changes the mode of the caller's classifier: it must be in evaluation mode already. A classifier in
    // training mode is a state error of the caller (InvalidOperationException), never a mismatch of a gate file.
    internal static void EnsureEvaluationMode(nn.Module module)
    {
        if (!module.training && !module.modules().Any(m => m.training))
        {
            return;
        }

        var submodule = module.training ? null : module.named_modules().Where(m => m.module.training).Select(m => m.name).FirstOrDefault();
        throw new InvalidOperationException(
            "The classifier is in training mode" + (submodule is null ? string.Empty : $" (its submodule '{submodule}' is)")
            + "; call .eval() on it first (the gate never changes the mode of your module, and in training mode "
            + "dropout and BatchNorm would make predictions and features random and race between threads).");
    }

    private static string DescribeDelegate(Func<Tensor, Tensor> extractor) => $"{extractor.Method.DeclaringType?.Name}.{extractor.Method.Name}";

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);

    // The feature-layer extractor of a gate being loaded: its scorer is read before the gate exists.
    private sealed class GateHolder
    {
        public OodGate? Gate { get; set; }

        public Tensor LayerFeatures(Tensor batch) =>
            (Gate ?? throw new InvalidOperationException("The gate is not built yet.")).LayerFeatures(batch);
    }
}
