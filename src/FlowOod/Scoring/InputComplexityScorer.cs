using System;
using System.Globalization;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Components;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The input-complexity score of Serrà et al. (2020): S(x) = −log₂ P(x) − L(x), both terms in <b>bits per image</b>
/// (totals over all C·H·W entries, not per dimension). <b>Higher = more out-of-distribution.</b>
/// </summary>
/// <remarks>
/// <para>−log₂ P(x) is the flow's code length of the 8-bit image x: D times its bits/dim (see
/// <see cref="Bijectors.Discretization"/>), i.e. (D·ln 256 − log p(x)) / ln 2 with log p(x) in nats and D = C·H·W.
/// L(x) is the length in bits of x under a generic lossless compressor (<see cref="Compressor"/>, PNG by default), so
/// 2^−L(x) acts as a "universal" reference model and S is a log-likelihood ratio against it: inputs that are simply easy
/// to compress (the reason flows give MNIST high likelihood) no longer look in-distribution.</para>
/// <para>Inputs are 8-bit images scaled to [0, 1] (x = k/255, the flow's input range) of shape <c>[N, C, H, W]</c>; the
/// compressor sees round(255·x). Entries further than 10⁻³ from a level k/255 (after scaling by 255) are rejected, as
/// are flows whose <see cref="NormalizingFlow.DiscretizationLevels"/> is not 256 or whose input range is not [0, 1].
/// The flow is evaluated in evaluation mode under inference mode in chunks of <see cref="FlowScorer.ChunkSize"/> examples with the
/// dequantization noise <see cref="FlowScorer.Noise"/>.</para>
/// </remarks>
[ComponentName("InputComplexity")]
public sealed class InputComplexityScorer : FlowScorer, IComponent<InputComplexityScorer>
{
    /// <summary>The largest distance of 255·x from an integer accepted as an 8-bit level.</summary>
    private const double GridTolerance = 1e-3;

    /// <summary>Creates the scorer.</summary>
    /// <param name="flow">The trained flow on 8-bit images: event shape <c>[C, H, W]</c>, input range [0, 1], 256 levels.</param>
    /// <param name="compressor">The complexity estimate; default a new <see cref="PngCompressor"/>.</param>
    /// <param name="chunkSize">Examples evaluated at once (bounds memory). Default 256.</param>
    /// <param name="noise">Dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</param>
    /// <param name="ownsFlow">Whether disposing the scorer disposes <paramref name="flow"/> (default false: it stays the caller's).</param>
    /// <exception cref="ArgumentException">The flow does not model 8-bit images in [0, 1] of shape [C, H, W].</exception>
    public InputComplexityScorer(
        NormalizingFlow flow, ICompressor? compressor = null, int chunkSize = 256, ScoringNoise? noise = null, bool ownsFlow = false)
        : base([flow ?? throw new ArgumentNullException(nameof(flow))], chunkSize, noise, ownsFlow)
    {
        if (flow.EventShape.Count != 3)
        {
            throw new ArgumentException(
                $"Input complexity needs a flow on images [C, H, W]; this flow's event shape is {Shapes.Format([.. flow.EventShape])}.",
                nameof(flow));
        }

        if (flow.DiscretizationLevels != 256)
        {
            throw new ArgumentException(
                $"Input complexity needs a flow on 8-bit data (DiscretizationLevels 256); this flow has {flow.DiscretizationLevels?.ToString(CultureInfo.InvariantCulture) ?? "none (continuous)"}.",
                nameof(flow));
        }

        if (flow.InputRange is not { Min: 0, Max: 1 })
        {
            throw new ArgumentException(
                $"Input complexity needs a flow on images scaled to [0, 1]; this flow's input range is {flow.InputRange?.ToString() ?? "unbounded"}.",
                nameof(flow));
        }

        Flow = flow;
        Compressor = compressor ?? new PngCompressor();
    }

    /// <summary>The flow giving −log₂ P(x).</summary>
    public NormalizingFlow Flow { get; }

    /// <summary>The lossless compressor giving L(x).</summary>
    public ICompressor Compressor { get; }

    /// <inheritdoc/>
    public override string Name => $"Input complexity (bits/image, {Compressor.Name})";

    /// <summary>S(x) = −log₂ P(x) − L(x) in bits per image; higher = more OOD.</summary>
    /// <param name="batch"><c>[N, C, H, W]</c> 8-bit images scaled to [0, 1], with the flow's dtype.</param>
    /// <returns>One score per example.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape or dtype, is empty, contains NaN/Inf, lies
    /// outside [0, 1] or off the 8-bit grid.</exception>
    /// <exception cref="InvalidOperationException">A score came out NaN.</exception>
    public override double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        return ScoreCore(batch, null, nameof(batch));
    }

    private protected override double[] ScoreCore(Tensor batch, InputValues? values, string parameterName)
    {
        ValidateInput(batch, values, parameterName, Flow);
        var lengths = CompressedBitsUnchecked(batch);
        var logProb = LogProbUnchecked(Flow, batch, oneChunk: values is not null);
        var scores = new double[logProb.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i] = (Flow.ToBitsPerDim(logProb[i]) * Flow.Dimensions) - lengths[i];
        }

        return FlowEvaluation.CheckFinite(scores, Name);
    }

    /// <summary>
    /// Writes the flow, the compressor, the chunk size and the noise. A compressor that describes itself is stored by its
    /// component name (as a string when it has no settings, as <c>{"type": name, ...}</c> otherwise); any other by its
    /// <see cref="ICompressor.Name"/>, and must be registered again at load time (<c>ModelCatalog.WithCompressor</c>).
    /// </summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteFlow("flow", Flow);
        if (Compressor is IComponent)
        {
            var described = ComponentWriter.Describe(Compressor);
            writer.WriteNode("compressor", described.Count == 1 ? described["type"]!.DeepClone() : described);
        }
        else
        {
            writer.WriteString("compressor", Compressor.Name);
        }

        WriteEvaluationSettings(writer);
    }

    /// <summary>
    /// Rebuilds a saved scorer; it owns the flow it reads. The compressor is the instance passed at load time with the
    /// stored name (<see cref="ICompressor.Name"/>), else the component of that name in the catalog.
    /// </summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ComponentFormatException">The stored compressor name is neither an instance passed at load time nor a
    /// component in the catalog (a damaged name, or a custom compressor not passed again); a load method reports it as a
    /// file error naming the field.</exception>
    public static InputComplexityScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var (name, read) = reader.ReadNamedComponent<ICompressor>("compressor", 128);
        var compressor = reader.Provided<ICompressor>().FirstOrDefault(c => c.Name == name)
            ?? (reader.Catalog.Contains<ICompressor>(name)
                ? read()
                : throw reader.Invalid(
                    "compressor",
                    $"names the compressor \"{name}\", which is neither FlowOod's (PNG, Deflate) nor passed at load time: if the file is "
                    + "intact, register an instance: ModelLoadOptions.Catalog = ModelCatalog.BuiltIn.WithCompressor(compressor), or, if it is a component, "
                    + "register its type: ModelCatalog.BuiltIn.With<T>()"));
        var (chunkSize, noise) = ReadEvaluationSettings(reader);
        return new InputComplexityScorer(reader.ReadFlow("flow"), compressor, chunkSize, noise, ownsFlow: true);
    }

    /// <summary>L(x), the compressed length in bits of every image of <paramref name="batch"/> under <see cref="Compressor"/>.</summary>
    /// <param name="batch"><c>[N, C, H, W]</c> 8-bit images scaled to [0, 1], with the flow's dtype.</param>
    /// <returns>One length in bits per example.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Score"/>.</exception>
    public long[] CompressedBits(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Flow.ValidateInput(batch, nameof(batch));
        return CompressedBitsUnchecked(batch);
    }

    private long[] CompressedBitsUnchecked(Tensor batch)
    {
        var channels = (int)Flow.EventShape[0];
        var height = (int)Flow.EventShape[1];
        var width = (int)Flow.EventShape[2];
        var imageBytes = checked((int)Flow.Dimensions);
        var count = batch.size(0);
        var lengths = new long[count];
        var buffer = new byte[checked(imageBytes * (int)Math.Min(ChunkSize, count))];
        for (long start = 0; start < count; start += ChunkSize)
        {
            var length = (int)Math.Min(ChunkSize, count - start);
            using (var scope = NewDisposeScope())
            {
                using var noGrad = no_grad();
                var scaled = batch.narrow(0, start, length).to(ScalarType.Float64).cpu().Times(255.0);
                var levels = scaled.round();
                var offGrid = scaled.sub(levels).abs_().max().ReadDouble();
                if (offGrid > GridTolerance)
                {
                    throw new ArgumentException(
                        $"Input complexity needs 8-bit images scaled to [0, 1] (values k/255); an entry of this batch lies {offGrid / 255:G3} "
                        + "from the nearest level. Quantize the images first (round(255·x)/255).",
                        nameof(batch));
                }

                levels.to_type(ScalarType.Byte).data<byte>().CopyTo(buffer, 0);
            }

            for (int i = 0; i < length; i++)
            {
                lengths[start + i] = Compressor.CompressedBits(buffer.AsSpan(i * imageBytes, imageBytes), channels, height, width);
            }
        }

        return lengths;
    }
}
