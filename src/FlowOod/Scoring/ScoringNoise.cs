using System;

namespace FlowOod.Scoring;

/// <summary>How a scorer sets the uniform dequantization noise u of a flow while scoring.</summary>
public enum ScoringNoiseKind
{
    /// <summary>u = ½ for every entry: the density at the bin centres. Deterministic and independent of the batch.</summary>
    BinCentres,

    /// <summary>u drawn from a generator seeded afresh at every call: reproducible for the same batch and chunk size.</summary>
    Seeded,

    /// <summary>u drawn from the global generator, as during training and in Kirichenko et al.'s evaluation.</summary>
    Random,
}

/// <summary>
/// The dequantization noise a scorer uses (see <see cref="Bijectors.UniformDequantization"/>); flows without
/// dequantization ignore it. Default for every scorer: <see cref="BinCentres"/>, so that one input always gets one score,
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

    /// <summary>Fresh noise from the global generator at every call.</summary>
    public static ScoringNoise Random { get; } = new(ScoringNoiseKind.Random, 0);

    /// <summary>The kind of noise.</summary>
    public ScoringNoiseKind Kind { get; }

    /// <summary>The seed of <see cref="ScoringNoiseKind.Seeded"/> noise; 0 otherwise.</summary>
    public ulong Seed { get; }

    /// <summary>Noise from a generator seeded with <paramref name="seed"/> at the start of every scoring call.</summary>
    public static ScoringNoise Seeded(ulong seed) => new(ScoringNoiseKind.Seeded, seed);

    /// <summary>Creates the value of <paramref name="kind"/> (with <paramref name="seed"/> for seeded noise).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined value.</exception>
    public static ScoringNoise Of(ScoringNoiseKind kind, ulong seed = 0) => kind switch
    {
        ScoringNoiseKind.BinCentres => BinCentres,
        ScoringNoiseKind.Random => Random,
        ScoringNoiseKind.Seeded => Seeded(seed),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown scoring noise kind."),
    };

    /// <inheritdoc/>
    public override string ToString() => Kind == ScoringNoiseKind.Seeded ? $"Seeded({Seed})" : Kind.ToString();
}
