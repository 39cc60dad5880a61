using System;
using FlowOod.Bijectors;

namespace FlowOod;

/// <summary>How a scorer sets the uniform dequantization noise u of a flow while scoring.</summary>
public enum ScoringNoiseKind
{
    /// <summary>u = ½ for every entry: the density at the bin centres. Deterministic and independent of the batch.</summary>
    BinCentres,

    /// <summary>
    /// u drawn from a stream keyed by the seed and a hash of the example's values: random-looking noise that is still
    /// one score per input, whatever batch or chunk it arrives in and whatever runs beside it.
    /// </summary>
    Seeded,

    /// <summary>
    /// Fresh u at every call, as during training and in Kirichenko et al.'s evaluation, from a generator of the call's
    /// own (TorchSharp's global generator is never touched).
    /// </summary>
    Random,

    /// <summary>
    /// u drawn from a generator seeded with the seed afresh at every call and consumed chunk after chunk: reproducible
    /// for the same batch and chunk size only (an input's u depends on its position in the batch). This is what
    /// <see cref="Seeded"/> meant in model format v1 (FlowOod 0.1), kept so that such files give their recorded scores;
    /// prefer <see cref="Seeded"/>.
    /// </summary>
    SeededStream,
}

/// <summary>
/// The dequantization noise of one evaluation of a flow (see <see cref="UniformDequantization"/>), passed as an argument
/// to <see cref="NormalizingFlow.LogProb(TorchSharp.torch.Tensor, ScoringNoise)"/> and kept by every scorer; flows
/// without dequantization ignore it. Only the flow's dequantization step receives it, as an explicit argument (see
/// <see cref="BijectorNoise"/>); it is never written on a module nor kept in thread state, so calls with different noise
/// can run on different threads at once. Default for every scorer: <see cref="BinCentres"/>, so that one input always gets one score,
/// whatever batch it arrives in, before and after a save → load.
/// </summary>
/// <remarks>
/// log p at the bin centre and log p averaged over u differ by far less than the gap between in- and out-of-distribution
/// scores; <see cref="Random"/> reproduces the reference evaluation exactly, at the price of scores that change from
/// call to call.
/// </remarks>
public sealed record ScoringNoise
{
    private ScoringNoise(ScoringNoiseKind kind, ulong seed)
    {
        Kind = kind;
        Seed = seed;
    }

    /// <summary>u = ½ (deterministic, per example).</summary>
    public static ScoringNoise BinCentres { get; } = new(ScoringNoiseKind.BinCentres, 0);

    /// <summary>Fresh noise at every call.</summary>
    public static ScoringNoise Random { get; } = new(ScoringNoiseKind.Random, 0);

    /// <summary>The kind of noise.</summary>
    public ScoringNoiseKind Kind { get; }

    /// <summary>The seed of <see cref="ScoringNoiseKind.Seeded"/> and <see cref="ScoringNoiseKind.SeededStream"/> noise; 0 otherwise.</summary>
    public ulong Seed { get; }

    /// <summary>Noise keyed by <paramref name="seed"/> and each example's values (see <see cref="ScoringNoiseKind.Seeded"/>).</summary>
    public static ScoringNoise Seeded(ulong seed) => new(ScoringNoiseKind.Seeded, seed);

    /// <summary>The batch-dependent seeded noise of model format v1 (see <see cref="ScoringNoiseKind.SeededStream"/>).</summary>
    public static ScoringNoise SeededStream(ulong seed) => new(ScoringNoiseKind.SeededStream, seed);

    /// <summary>Creates the value of <paramref name="kind"/> (with <paramref name="seed"/> for seeded noise).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined value.</exception>
    public static ScoringNoise Of(ScoringNoiseKind kind, ulong seed = 0) => kind switch
    {
        ScoringNoiseKind.BinCentres => BinCentres,
        ScoringNoiseKind.Random => Random,
        ScoringNoiseKind.Seeded => Seeded(seed),
        ScoringNoiseKind.SeededStream => SeededStream(seed),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown scoring noise kind."),
    };

    /// <summary>
    /// The noise source of one call: one per call, spanning all its chunks, disposed after it (a
    /// <see cref="ScoringNoiseKind.SeededStream"/> or <see cref="ScoringNoiseKind.Random"/> call gets a generator of its
    /// own, freed with the source). The source is passed explicitly to the flow's dequantization step.
    /// </summary>
    internal NoiseSource Open() => Kind switch
    {
        ScoringNoiseKind.BinCentres => BinCentreNoise.Instance,
        ScoringNoiseKind.Seeded => new ContentSeededNoise(Seed),
        ScoringNoiseKind.SeededStream => new GeneratorNoise(Seed),
        _ => new GeneratorNoise(unchecked((ulong)System.Random.Shared.NextInt64())),
    };

    /// <summary>
    /// The kind a model file of <paramref name="formatVersion"/> means by <paramref name="stored"/>: in format version 1,
    /// "Seeded" was today's <see cref="ScoringNoiseKind.SeededStream"/> and "SeededStream" did not exist (null).
    /// </summary>
    internal static ScoringNoiseKind? KindInFormat(ScoringNoiseKind stored, long formatVersion) => formatVersion >= 2
        ? stored
        : stored switch
        {
            ScoringNoiseKind.Seeded => ScoringNoiseKind.SeededStream,
            ScoringNoiseKind.SeededStream => null,
            _ => stored,
        };

    /// <inheritdoc/>
    public override string ToString() => Kind is ScoringNoiseKind.Seeded or ScoringNoiseKind.SeededStream ? $"{Kind}({Seed})" : Kind.ToString();
}
