using System;
using System.Collections.Generic;
using System.Threading;
using FlowOod.Detection;
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
/// OOD), its conformal p-value p = (1 + #{calibration scores ≥ s}) / (n + 1), and IsOutOfDistribution = (p ≤ α). With
/// exchangeable in-distribution inputs the rate of refused in-distribution inputs is at most α.</para>
/// <para>A gate from <see cref="Fit"/> scores the classifier's own features (a named layer's output read with a forward
/// hook, or a user function) with a <see cref="Scoring.FeatureSpaceScorer"/>; a gate from <see cref="Create"/> uses any
/// calibrated detector on the classifier's inputs (e.g. a pixel scorer).</para>
/// <para>The classifier stays the caller's: the gate never moves, trains, disposes it, changes its mode or keeps gradients
/// for it. It must be in evaluation mode. All forwards run under inference mode.</para>
/// <para>Threads: a gate is immutable and safe for concurrent <see cref="Classify"/> calls. Batch and single-input calls
/// give bit-identical decisions for the same input.</para>
/// </remarks>
public sealed class OodGate : IDisposable
{
    private OodGate()
    {
        throw new NotImplementedException();
    }

    /// <summary>The shape of one input, e.g. <c>[1, 28, 28]</c>; a batch is <c>[N, ...InputShape]</c>.</summary>
    public IReadOnlyList<long> InputShape => throw new NotImplementedException();

    /// <summary>C, the number of classes (the classifier's output is <c>[N, C]</c>), ≥ 2.</summary>
    public int ClassCount => throw new NotImplementedException();

    /// <summary>The C class names in logit order; by default <c>"0"</c> … <c>"C−1"</c>.</summary>
    public IReadOnlyList<string> ClassNames => throw new NotImplementedException();

    /// <summary>α, the target false-positive rate of the detector, in (0, 1).</summary>
    public double TargetFalsePositiveRate => throw new NotImplementedException();

    /// <summary>The detector's threshold, in the scorer's unit: a score strictly above it is refused.</summary>
    public double Threshold => throw new NotImplementedException();

    /// <summary>The name of the classifier layer whose output is the feature vector; null for a gate with a feature
    /// extractor function or a pixel detector.</summary>
    public string? FeatureLayer => throw new NotImplementedException();

    /// <summary>The fingerprint of the classifier the gate was fitted (or created) with; <see cref="Load"/> checks it.</summary>
    public ClassifierFingerprint ClassifierFingerprint => throw new NotImplementedException();

    /// <summary>The calibrated detector (scorer, calibration scores, α).</summary>
    public OodDetector Detector => throw new NotImplementedException();

    /// <summary>
    /// Fits a gate: extracts features of <paramref name="inDistribution"/> from the classifier (a forward hook on
    /// <see cref="OodGateOptions.FeatureLayer"/>, or <see cref="OodGateOptions.FeatureExtractor"/>), trains the
    /// feature-space flow on a random training part (<see cref="Scoring.FeatureSpaceScorer.Fit(Func{Tensor, Tensor}, Tensor, Scoring.FeatureSpaceFitOptions?, CancellationToken)"/>)
    /// and calibrates an <see cref="OodDetector"/> at α = <see cref="OodGateOptions.TargetFalsePositiveRate"/> on the
    /// held-out part (<see cref="OodGateOptions.CalibrationFraction"/>).
    /// </summary>
    /// <param name="classifier">The caller's classifier, in evaluation mode: <c>[N, ...InputShape]</c> → logits <c>[N, C]</c>, C ≥ 2. Never modified.</param>
    /// <param name="inDistribution">In-distribution inputs <c>[N, ...InputShape]</c>, float32, finite; InputShape is taken from it.</param>
    /// <param name="options">The settings.</param>
    /// <param name="cancellationToken">Checked between chunks and before every training step.</param>
    /// <returns>The gate; it owns its detector and flow (the classifier stays the caller's).</returns>
    /// <exception cref="ArgumentException">Bad options, input, feature layer, or classifier output shape.</exception>
    /// <exception cref="InvalidOperationException">The classifier is in training mode.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static OodGate Fit(
        nn.Module<Tensor, Tensor> classifier, Tensor inDistribution, OodGateOptions options, CancellationToken cancellationToken = default)
    {
        throw new NotImplementedException();
    }

    /// <summary>
    /// A gate over an already calibrated detector whose scorer takes the classifier's inputs <c>[N, ...InputShape]</c>
    /// (e.g. a pixel scorer such as <see cref="Scoring.InputComplexityScorer"/> or <see cref="Scoring.LikelihoodRatioScorer"/>).
    /// </summary>
    /// <param name="classifier">The caller's classifier, in evaluation mode: <c>[N, ...InputShape]</c> → logits <c>[N, C]</c>, C ≥ 2. Never modified.</param>
    /// <param name="detector">The calibrated detector.</param>
    /// <param name="inputShape">The shape of one input, e.g. <c>[1, 28, 28]</c>.</param>
    /// <param name="classNames">The C class names; default <c>"0"</c> … <c>"C−1"</c>.</param>
    /// <param name="ownsDetector">Whether disposing the gate disposes <paramref name="detector"/> (default false).</param>
    /// <returns>The gate.</returns>
    /// <exception cref="ArgumentException">Bad shape, class names or classifier output shape.</exception>
    /// <exception cref="InvalidOperationException">The classifier is in training mode.</exception>
    public static OodGate Create(
        nn.Module<Tensor, Tensor> classifier,
        OodDetector detector,
        IReadOnlyList<long> inputShape,
        IReadOnlyList<string>? classNames = null,
        bool ownsDetector = false)
    {
        throw new NotImplementedException();
    }

    /// <summary>Classifies a batch and gives one OOD verdict per input.</summary>
    /// <param name="batch"><c>[N, ...InputShape]</c>, N ≥ 1, float32, finite, not on the meta device.</param>
    /// <returns>N decisions in batch order; each equals, bit for bit, <see cref="ClassifyOne"/> of that input.</returns>
    /// <exception cref="ArgumentException">Wrong shape or dtype, empty, NaN/Inf, or on the meta device.</exception>
    /// <exception cref="InvalidOperationException">The classifier was put in training mode.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public GateDecision[] Classify(Tensor batch)
    {
        throw new NotImplementedException();
    }

    /// <summary>Classifies one input (<see cref="Classify"/> of a batch of one).</summary>
    /// <param name="input"><c>[...InputShape]</c> (no batch dimension), float32, finite.</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException">Wrong shape or dtype, NaN/Inf, or on the meta device.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public GateDecision ClassifyOne(Tensor input)
    {
        throw new NotImplementedException();
    }

    /// <summary>
    /// Saves the gate as one model file (kind <c>"gate"</c>, see <c>docs/model-format.md</c>): the detector (scorer with
    /// its flow, calibration scores, α), the feature-layer or extractor name, the input shape, the class names and the
    /// classifier's fingerprint. Not the classifier: save it yourself. Written atomically (temporary file + rename).
    /// </summary>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="metadata">Your key/value notes, stored in the header.</param>
    /// <exception cref="NotSupportedException">The detector's scorer cannot be saved.</exception>
    /// <exception cref="ObjectDisposedException">The gate is disposed.</exception>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        throw new NotImplementedException();
    }

    /// <summary>Loads a gate saved by <see cref="Save"/> for <paramref name="classifier"/>, after checking its fingerprint.</summary>
    /// <param name="path">The gate file.</param>
    /// <param name="classifier">The classifier the gate was fitted with, in evaluation mode (it stays the caller's).</param>
    /// <param name="options">α override, feature extractor, device, model-file options.</param>
    /// <returns>The gate; it owns what it loaded.</returns>
    /// <exception cref="Persistence.ModelFormatException">The file is not a valid gate file (truncated, corrupted, ...).</exception>
    /// <exception cref="GateMismatchException">The classifier is not the one the gate was fitted with.</exception>
    /// <exception cref="ArgumentException">Bad options (e.g. the extractor is missing).</exception>
    /// <exception cref="InvalidOperationException">The classifier is in training mode.</exception>
    public static OodGate Load(string path, nn.Module<Tensor, Tensor> classifier, GateLoadOptions? options = null)
    {
        throw new NotImplementedException();
    }

    /// <summary>Removes the forward hook and disposes what the gate owns (never the classifier); harmless when called again.</summary>
    public void Dispose()
    {
        throw new NotImplementedException();
    }
}
