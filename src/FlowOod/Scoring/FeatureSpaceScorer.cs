using System;
using System.Linq;
using System.Threading;
using FlowOod.Components;
using FlowOod.Models;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Scores inputs by the likelihood of their feature vectors (e.g. a classifier's embedding) under a flow fitted to
/// in-distribution features: score(x) = −log p_flow(standardise(φ(x))) in nats. Higher = less likely = more OOD.
/// </summary>
/// <remarks>
/// <para>This is the route of Kirichenko et al. (2020), Sec. 8: flows on image pixels learn local pixel correlations and
/// give OOD images high likelihood, but a flow on the embeddings of a classifier trained on the in-distribution data
/// detects OOD inputs well, because the embedding keeps semantic content and drops those correlations.</para>
/// <para>φ is the feature extractor, mapping a batch <c>[N, ...]</c> to features <c>[N, D]</c>; the standardiser maps
/// each feature to (φⱼ(x) − μⱼ)/σⱼ; the flow is a density on <c>[D]</c> (e.g. <see cref="TabularRealNvp"/>). The score
/// is −log p_flow(z), the negative log-density of the standardised features in nats (it omits the constant
/// Σⱼ log σⱼ, which would make it the density of the raw features; rankings are unaffected).</para>
/// <para>Scoring runs the extractor and the flow under inference mode (no gradients) in chunks of
/// <see cref="FlowScorer.ChunkSize"/> inputs. FlowOod never changes the mode of the extractor: an <see cref="nn.Module{T, TResult}"/>
/// extractor must be in evaluation mode (<c>eval()</c>) already, or scoring throws; a delegate extractor is called as it
/// is, so put any modules it uses in evaluation mode yourself. The extractor stays the caller's (never disposed) and
/// must be safe to call from several threads at once if the scorer is (a module in evaluation mode under inference
/// mode is). The extractor's output is validated for every chunk (rank 2, N rows, D columns,
/// float32 or float64, finite) and converted to the flow's dtype and device. Flows with dequantization are evaluated
/// at the bin centres (<see cref="ScoringNoise.BinCentres"/>).</para>
/// <para>The extractor is arbitrary user code and cannot be saved: a model file stores the flow, the standardiser, the
/// chunk size and the extractor's name, and loading needs the extractor registered again (<c>ModelCatalog.WithFeatureExtractor</c>; the loader hands it to
/// <see cref="Read"/> through <see cref="ComponentReader.Provided{T}"/>). The exception is a scorer on precomputed
/// features (<see cref="FitOnFeatures"/>): its extractor is the identity, stored as data, and its file loads with no code.</para>
/// </remarks>
[ComponentName("FeatureSpace")]
public sealed partial class FeatureSpaceScorer : FlowScorer, IComponent<FeatureSpaceScorer>
{
    /// <summary>The <see cref="ExtractorName"/> of a scorer on precomputed features (<see cref="FitOnFeatures"/>).</summary>
    public const string IdentityExtractorName = "identity (precomputed features)";

    // The identity extractor of a scorer on precomputed features: a new handle on the chunk, which the chunk's scope frees.
    private static readonly Func<Tensor, Tensor> Identity = static features => features.alias();

    private readonly Func<Tensor, Tensor> extractor;
    private readonly nn.Module<Tensor, Tensor>? extractorModule;

    /// <summary>Creates the scorer with a delegate as the feature extractor.</summary>
    /// <param name="featureExtractor">φ: a batch <c>[N, ...]</c> to features <c>[N, D]</c> (float32 or float64). It
    /// should return a new tensor; the scorer disposes it.</param>
    /// <param name="flow">A flow on events <c>[D]</c>, fitted to standardised in-distribution features.</param>
    /// <param name="standardizer">The standardiser fitted on in-distribution features (D features).</param>
    /// <param name="chunkSize">Inputs passed to the extractor and flow at once (bounds memory). Default 256.</param>
    /// <param name="extractorName">A name for the extractor in error messages; by default the delegate's method name.</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentException">The flow's event shape is not <c>[D]</c> with D = the standardiser's D.</exception>
    public FeatureSpaceScorer(
        Func<Tensor, Tensor> featureExtractor,
        NormalizingFlow flow,
        FeatureStandardizer standardizer,
        int chunkSize = 256,
        string? extractorName = null,
        bool ownsFlow = false)
        : this(featureExtractor, null, flow, standardizer, chunkSize, extractorName ?? DescribeDelegate(featureExtractor), ownsFlow)
    {
    }

    /// <summary>Creates the scorer with a TorchSharp module (e.g. a classifier's embedding network) as the feature extractor.</summary>
    /// <param name="featureExtractor">φ: a module mapping a batch <c>[N, ...]</c> to features <c>[N, D]</c> (float32 or
    /// float64), in evaluation mode; run under inference mode, its mode never changed.</param>
    /// <param name="flow">A flow on events <c>[D]</c>, fitted to standardised in-distribution features.</param>
    /// <param name="standardizer">The standardiser fitted on in-distribution features (D features).</param>
    /// <param name="chunkSize">Inputs passed to the extractor and flow at once (bounds memory). Default 256.</param>
    /// <param name="extractorName">A name for the extractor in error messages; by default the module's name.</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the
    /// caller's). The extractor module always stays the caller's.</param>
    /// <exception cref="ArgumentException">The flow's event shape is not <c>[D]</c> with D = the standardiser's D.</exception>
    public FeatureSpaceScorer(
        nn.Module<Tensor, Tensor> featureExtractor,
        NormalizingFlow flow,
        FeatureStandardizer standardizer,
        int chunkSize = 256,
        string? extractorName = null,
        bool ownsFlow = false)
        : this(
            featureExtractor is null ? null! : featureExtractor.call,
            featureExtractor,
            flow,
            standardizer,
            chunkSize,
            extractorName ?? DescribeModule(featureExtractor),
            ownsFlow)
    {
    }

    private FeatureSpaceScorer(
        Func<Tensor, Tensor> extractor,
        nn.Module<Tensor, Tensor>? extractorModule,
        NormalizingFlow flow,
        FeatureStandardizer standardizer,
        int chunkSize,
        string extractorName,
        bool ownsFlow)
        : base([flow ?? throw new ArgumentNullException(nameof(flow))], chunkSize, ScoringNoise.BinCentres, ownsFlow)
    {
        ArgumentNullException.ThrowIfNull(extractor, "featureExtractor");
        ArgumentNullException.ThrowIfNull(standardizer);
        if (flow.EventShape.Count != 1 || flow.EventShape[0] != standardizer.FeatureDimension)
        {
            throw new ArgumentException(
                $"The flow's event shape must be [{standardizer.FeatureDimension}] to match the standardiser's {standardizer.FeatureDimension} features, "
                + $"got {Shapes.Format(flow.EventShape.ToArray())}.",
                nameof(flow));
        }

        this.extractor = extractor;
        this.extractorModule = extractorModule;
        Flow = flow;
        Standardizer = standardizer;
        ExtractorName = extractorName;
    }

    /// <summary>The flow on standardised features <c>[D]</c>.</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>The per-feature standardisation fitted on in-distribution features.</summary>
    public FeatureStandardizer Standardizer { get; }

    /// <summary>D, the number of features the extractor must produce per input.</summary>
    public int FeatureDimension => Standardizer.FeatureDimension;

    /// <summary>The extractor's name, used in error messages (informational; the extractor itself is not saved).</summary>
    public string ExtractorName { get; }

    /// <summary>
    /// True for a scorer on precomputed features (<see cref="FitOnFeatures"/>): its extractor is the identity, φ(x) = x on
    /// rows <c>[N, D]</c>, stored in a model file as data (<c>"extractor": "identity"</c>), so loading needs no code.
    /// </summary>
    public bool HasIdentityExtractor => ReferenceEquals(extractor, Identity);

    /// <inheritdoc/>
    public override string Name => "Feature-space NLL (nats)";

    /// <summary>
    /// The input range of the feature-space flow: standardised features (φ(x) − μ)/σ must lie within ± this many standard
    /// deviations of the in-distribution mean (10⁶). Out-of-distribution inputs of the data's own kind stay far inside it;
    /// beyond it the flow's float arithmetic overflows, so such a batch is refused with an <see cref="ArgumentException"/>
    /// before the flow runs instead of producing a meaningless NaN. A feature out of range although it is no larger than
    /// twice its stored mean (|xⱼ| ≤ 2|μⱼ|: the stored statistics, not the input's scale, put it there, e.g. a feature
    /// constant in training, or a damaged file) makes its row's score +∞ instead.
    /// </summary>
    public const double MaxStandardizedFeature = 1e6;

    /// <summary>
    /// Extracts features from <paramref name="inDistributionTrain"/>, fits a <see cref="FeatureStandardizer"/>, trains a
    /// <see cref="TabularRealNvp"/> flow (float32) on the standardised features, and returns the scorer.
    /// </summary>
    /// <param name="featureExtractor">φ: a batch <c>[N, ...]</c> to features <c>[N, D]</c>, D ≥ 2.</param>
    /// <param name="inDistributionTrain">In-distribution training inputs <c>[N, ...]</c>, N ≥ 2, as the extractor expects.</param>
    /// <param name="options">The flow's hyper-parameters, its training and its device (default <c>new FeatureSpaceFitOptions()</c>).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The fitted scorer, with <see cref="FlowScorer.ChunkSize"/> 256; it owns the flow it trained.</returns>
    /// <exception cref="ArgumentException">Bad input or extractor output (see <see cref="Score"/>), D &lt; 2, or every feature constant.</exception>
    /// <exception cref="TrainingDivergedException">The flow's training diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static FeatureSpaceScorer Fit(
        Func<Tensor, Tensor> featureExtractor,
        Tensor inDistributionTrain,
        FeatureSpaceFitOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(featureExtractor);
        return FitCore(featureExtractor, null, DescribeDelegate(featureExtractor), inDistributionTrain, options, cancellationToken);
    }

    /// <summary>
    /// <see cref="Fit(Func{Tensor, Tensor}, Tensor, FeatureSpaceFitOptions?, CancellationToken)"/>
    /// with a TorchSharp module as the extractor (in evaluation mode already; run under inference mode).
    /// </summary>
    /// <param name="featureExtractor">φ: a module mapping a batch <c>[N, ...]</c> to features <c>[N, D]</c>, D ≥ 2.</param>
    /// <param name="inDistributionTrain">In-distribution training inputs <c>[N, ...]</c>, N ≥ 2, as the extractor expects.</param>
    /// <param name="options">The flow's hyper-parameters, its training and its device (default <c>new FeatureSpaceFitOptions()</c>).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The fitted scorer, with <see cref="FlowScorer.ChunkSize"/> 256; it owns the flow it trained.</returns>
    /// <exception cref="ArgumentException">Bad input or extractor output (see <see cref="Score"/>), D &lt; 2, or every feature constant.</exception>
    /// <exception cref="InvalidOperationException">The extractor module is in training mode.</exception>
    /// <exception cref="TrainingDivergedException">The flow's training diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static FeatureSpaceScorer Fit(
        nn.Module<Tensor, Tensor> featureExtractor,
        Tensor inDistributionTrain,
        FeatureSpaceFitOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(featureExtractor);
        return FitCore(
            featureExtractor.call, featureExtractor, DescribeModule(featureExtractor), inDistributionTrain, options, cancellationToken);
    }

    /// <summary>
    /// Fits the scorer on precomputed features (embeddings computed elsewhere): the extractor is the identity, φ(x) = x,
    /// so the scorer scores rows <c>[N, D]</c> and a saved file reloads with no code passed (the identity is stored as
    /// data). Otherwise as <see cref="Fit(Func{Tensor, Tensor}, Tensor, FeatureSpaceFitOptions?, CancellationToken)"/>:
    /// standardiser fitted on the rows, <see cref="TabularRealNvp"/> trained on the standardised rows.
    /// </summary>
    /// <param name="features">In-distribution feature rows <c>[N, D]</c>, N ≥ 2, D ≥ 2, float32 or float64, finite.</param>
    /// <param name="options">The flow's hyper-parameters, its training and its device (default <c>new FeatureSpaceFitOptions()</c>).</param>
    /// <param name="progress">Receives the flow trainer's reports (optional).</param>
    /// <param name="cancellationToken">Checked before every training step.</param>
    /// <returns>The fitted scorer (<see cref="HasIdentityExtractor"/> true), with <see cref="FlowScorer.ChunkSize"/> 256; it owns its flow.</returns>
    /// <exception cref="ArgumentException">The rows are not <c>[N, D]</c> float32/float64, are empty, contain NaN/Inf,
    /// D &lt; 2, or every feature is constant.</exception>
    /// <exception cref="TrainingDivergedException">The flow's training diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static FeatureSpaceScorer FitOnFeatures(
        Tensor features,
        FeatureSpaceFitOptions? options = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Dimensions != 2)
        {
            throw new ArgumentException($"Expected feature rows [N, D], got shape {Shapes.Format(features.Sizes())}.", nameof(features));
        }

        return FitCore(Identity, null, IdentityExtractorName, features, options, cancellationToken, trainingProgress: progress);
    }

    /// <summary>
    /// One score per input: −log p_flow((φ(x) − μ)/σ) in nats; higher = more out-of-distribution.
    /// </summary>
    /// <param name="batch"><c>[N, ...]</c> as the extractor expects, N ≥ 1; floating inputs must be finite.</param>
    /// <returns>N finite scores (or +∞ for features the flow gives zero density), in batch order.</returns>
    /// <exception cref="ArgumentException">The batch is empty, a scalar, or contains NaN/Inf; the extractor throws on
    /// it; the extractor returns the wrong shape, a non-float dtype, or NaN/Inf (the message names the extractor); or a
    /// standardised feature lies outside ±<see cref="MaxStandardizedFeature"/> (an input far outside the range of the data
    /// the scorer was fitted on, e.g. pixels multiplied by 10³⁸; a row out of range because of the stored mean scores +∞,
    /// see <see cref="MaxStandardizedFeature"/>).</exception>
    /// <exception cref="InvalidOperationException">The flow produced a NaN density, or the extractor module is in training mode.</exception>
    public override double[] Score(Tensor batch)
    {
        ThrowIfDisposed();
        return ScoreCore(batch, null, nameof(batch));
    }

    // values given: a gate's chunk, checked finite by the gate (no second read) and scored as one piece.
    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        IntraOpThreads.Adopt();
        var count = values is null ? ValidateBatch(batch, parameterName) : batch.size(0);
        var chunkSize = values is null ? ChunkSize : count;
        EnsureEvaluationMode(extractorModule, ExtractorName);
        var scores = new double[count];
        var (dtype, device) = FlowStorage();
        using var inference = inference_mode();
        for (long start = 0; start < count; start += chunkSize)
        {
            using var scope = NewDisposeScope();
            var chunk = batch.narrow(0, start, Math.Min(chunkSize, count - start));
            var features = Extract(extractor, ExtractorName, chunk, FeatureDimension, parameterName);
            var (checkedRows, outOfRange) = CheckStandardized(features, Standardizer.ApplyUnchecked(features), parameterName);
            var standardized = checkedRows.to(dtype, device);
            // Extract has checked the features' shape, dtype and finiteness, and CheckStandardized their range; the
            // chunk reaches the flow as one piece.
            var logProb = LogProbUnchecked(Flow, standardized, oneChunk: true);
            for (int i = 0; i < logProb.Length; i++)
            {
                scores[start + i] = outOfRange?[i] == true ? double.PositiveInfinity : -logProb[i];
            }
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>
    /// Scores features computed elsewhere (the gate reads them from its classifier's forward): −log p_flow((f − μ)/σ) per
    /// row of <paramref name="features"/> <c>[N, D]</c>, float32 or float64, finite (checked). The flow sees the rows in
    /// pieces of <see cref="FlowScorer.ChunkSize"/>, so a batch of fixed size is always evaluated the same way.
    /// </summary>
    internal double[] ScoreFeatures(Tensor features, string source, string parameterName) =>
        ScoreFeatures(features, source, parameterName, checkedByCaller: false);

    /// <summary>
    /// <see cref="ScoreFeatures(Tensor, string, string)"/>; with <paramref name="checkedByCaller"/> the caller (the embedding
    /// detector) has checked the rows already: [N, D] float32, finite, and every row within ±<see cref="MaxStandardizedFeature"/>
    /// standard deviations of the mean (farther rows replaced), so neither fact is read again here. The rows reach the flow
    /// as one piece (the caller's fixed-size chunk).
    /// </summary>
    internal double[] ScoreFeatures(Tensor features, string source, string parameterName, bool checkedByCaller)
    {
        ThrowIfDisposed();
        if (!checkedByCaller)
        {
            ValidateFeatures(features, source, features.size(0), FeatureDimension, parameterName);
        }

        using var scope = NewDisposeScope();
        var (dtype, device) = FlowStorage();
        using var inference = inference_mode();
        var (checkedRows, outOfRange) = checkedByCaller
            ? (Standardizer.ApplyUnchecked(features), null)
            : CheckStandardized(features, Standardizer.ApplyUnchecked(features), parameterName);
        var standardized = checkedRows.to(dtype, device);
        var logProb = LogProbUnchecked(Flow, standardized, oneChunk: true);
        return Scores(logProb, logProb.Length, outOfRange);
    }

    /// <summary><see cref="Fit(Func{Tensor, Tensor}, Tensor, FeatureSpaceFitOptions?, CancellationToken)"/> with the extractor's stored name given.</summary>
    internal static FeatureSpaceScorer FitNamed(
        Func<Tensor, Tensor> featureExtractor,
        string extractorName,
        Tensor inDistributionTrain,
        FeatureSpaceFitOptions? options,
        CancellationToken cancellationToken,
        IProgress<ScoringProgress>? extraction = null,
        IProgress<TrainingProgress>? training = null)
    {
        ArgumentNullException.ThrowIfNull(featureExtractor);
        return FitCore(featureExtractor, null, extractorName, inDistributionTrain, options, cancellationToken, extraction, training);
    }

    /// <summary>Writes the flow, the feature dimension, the standardiser's vectors, the chunk size and the extractor's name (not the extractor).</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        writer.WriteInt("featureDimension", FeatureDimension);
        if (FeatureStandardizer.FloorViolation(Standardizer.StandardDeviation) is { } problem)
        {
            throw new ArgumentException($"The standardiser's σ {problem}; such a file could not be loaded (nothing is written).", nameof(writer));
        }

        writer.WriteDoubles("mean", Standardizer.Mean);
        writer.WriteDoubles("std", Standardizer.StandardDeviation);
        writer.WriteInt("chunkSize", ChunkSize);
        writer.WriteString("extractorName", ExtractorName);
        if (HasIdentityExtractor)
        {
            // Only scorers on precomputed features carry the field, so files of extractor scorers keep their bytes.
            writer.WriteString("extractor", "identity");
        }
    }

    /// <summary>
    /// Rebuilds a saved scorer with the extractor passed at load time (exactly one <see cref="Func{T, TResult}"/> of
    /// tensors or one <see cref="nn.Module{T, TResult}"/>); it owns the flow it reads, the extractor stays the caller's.
    /// A scorer on precomputed features (stored <c>"extractor": "identity"</c>) needs no extractor, and any passed is not used.
    /// </summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ArgumentException">No extractor, or more than one, was passed at load time.</exception>
    public static FeatureSpaceScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var dimension = reader.ReadInt("featureDimension", 1, ComponentLimits.MaxCount);
        var extractorName = reader.ReadString("extractorName", 256);
        var identity = ReadsIdentityExtractor(reader);
        var delegates = reader.Provided<Func<Tensor, Tensor>>();
        var modules = reader.Provided<nn.Module<Tensor, Tensor>>();
        if (!identity && delegates.Count + modules.Count != 1)
        {
            throw reader.NotProvided(
                $"This file holds a feature-space scorer whose extractor ('{extractorName}', {dimension} features) is code, not data: " +
                "register it, a function or a module, in the load options' catalog: ModelLoadOptions.Catalog = ModelCatalog.BuiltIn.WithFeatureExtractor(extractor) "
                + $"(exactly one; {delegates.Count + modules.Count} given).");
        }

        var mean = reader.ReadDoubles("mean", dimension);
        var std = reader.ReadDoubles("std", dimension);
        if (FeatureStandardizer.FloorViolation(std) is { } problem)
        {
            throw reader.Invalid("std", problem);
        }

        var standardizer = new FeatureStandardizer(mean, std);
        var chunkSize = reader.ReadInt("chunkSize", 1, ComponentLimits.MaxCount);
        var flow = reader.ReadFlow("flow");
        return identity ? new FeatureSpaceScorer(Identity, null, flow, standardizer, chunkSize, extractorName, ownsFlow: true)
            : modules.Count == 1 ? new FeatureSpaceScorer(modules[0], flow, standardizer, chunkSize, extractorName, ownsFlow: true)
            : new FeatureSpaceScorer(delegates[0], flow, standardizer, chunkSize, extractorName, ownsFlow: true);
    }

    // The optional field "extractor": absent for a code extractor (passed at load time), "identity" for a scorer on
    // precomputed features; any other value is a damaged file.
    private static bool ReadsIdentityExtractor(ComponentReader reader)
    {
        if (!reader.ContainsField("extractor"))
        {
            return false;
        }

        var kind = reader.ReadString("extractor", 16);
        return kind == "identity" ? true : throw reader.Invalid("extractor", $"is \"{kind}\"; the only extractor stored as data is \"identity\"");
    }
}
