using System;
using static TorchSharp.torch;

namespace FlowOod;

/// <summary>
/// The dequantization noise of one call, opened from a <see cref="ScoringNoise"/> (<see cref="ScoringNoise.Open"/>) or by
/// the trainer, and passed explicitly to the flow's dequantization step (see <see cref="BijectorNoise"/>): a source of
/// u ∈ [0, 1) shaped like a batch <c>[N, ...]</c>. One source per call, spanning all its chunks; dispose it after the call.
/// </summary>
internal abstract class NoiseSource : IDisposable
{
    /// <summary>u for every entry of <paramref name="input"/>: a new tensor of its shape, dtype and device.</summary>
    public abstract Tensor Uniform(Tensor input);

    /// <summary>Frees what the source owns (a generator); nothing by default.</summary>
    public virtual void Dispose()
    {
    }
}

/// <summary>u = ½ everywhere: the bin centres.</summary>
internal sealed class BinCentreNoise : NoiseSource
{
    public static BinCentreNoise Instance { get; } = new();

    private BinCentreNoise()
    {
    }

    public override Tensor Uniform(Tensor input) => input.FullLike(0.5);
}

/// <summary>
/// u drawn from one generator: its own, created on the input's device at first use from a seed and disposed with the
/// source (<see cref="ScoringNoiseKind.Random"/>, <see cref="ScoringNoiseKind.SeededStream"/>), or a generator the caller
/// owns (the trainer's). Not thread-safe: one per call.
/// </summary>
internal sealed class GeneratorNoise : NoiseSource
{
    private readonly ulong seed;
    private readonly bool owned;
    private Generator? generator;

    /// <summary>A source with a generator of its own, seeded with <paramref name="seed"/>.</summary>
    public GeneratorNoise(ulong seed)
    {
        this.seed = seed;
        owned = true;
    }

    /// <summary>A source drawing from <paramref name="borrowed"/>, which the caller keeps and disposes.</summary>
    public GeneratorNoise(Generator borrowed)
    {
        generator = borrowed ?? throw new ArgumentNullException(nameof(borrowed));
        owned = false;
    }

    public override Tensor Uniform(Tensor input) =>
        rand(input.Sizes(), dtype: input.dtype, device: input.device, generator: generator ??= new Generator(seed, input.device));

    public override void Dispose()
    {
        if (owned)
        {
            generator?.Dispose();
        }

        base.Dispose();
    }
}

/// <summary>
/// Seeded noise that depends only on the seed and the example's own values: each example's u comes from a SplitMix64
/// stream keyed by the seed and a 64-bit hash of the example, so an input gets the same u, and the same score, whatever
/// batch or chunk it arrives in, on any device, and whatever runs beside it. Immutable and thread-safe.
/// </summary>
/// <remarks>Costs one copy of the batch to the host per call (to hash the examples) and the generation of N·D
/// uniforms on the host; noise is a function of the values, so two equal examples get equal noise.</remarks>
internal sealed class ContentSeededNoise : NoiseSource
{
    private const double TwoToMinus53 = 1.0 / (1UL << 53);
    private readonly ulong seed;

    public ContentSeededNoise(ulong seed) => this.seed = seed;

    public override Tensor Uniform(Tensor input)
    {
        var count = input.size(0);
        var entries = count == 0 ? 0 : input.numel() / count;
        double[] values;
        using (var scope = NewDisposeScope())
        {
            values = input.detach().to(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();
        }

        var noise = new double[values.Length];
        for (long n = 0; n < count; n++)
        {
            var example = values.AsSpan((int)(n * entries), (int)entries);
            var state = Mix(seed ^ Hash(example));
            var target = noise.AsSpan((int)(n * entries), (int)entries);
            for (int i = 0; i < target.Length; i++)
            {
                state += 0x9E3779B97F4A7C15UL;
                target[i] = (Mix(state) >> 11) * TwoToMinus53;
            }
        }

        using var hostNoise = tensor(noise, input.Sizes(), dtype: ScalarType.Float64);
        return hostNoise.to(input.dtype, input.device);
    }

    /// <summary>A 64-bit hash of the example's values (their IEEE bit patterns, −0 and +0 alike).</summary>
    private static ulong Hash(ReadOnlySpan<double> example)
    {
        var hash = 0x6A09E667F3BCC909UL ^ (ulong)example.Length;
        foreach (var value in example)
        {
            hash = Mix(hash ^ (ulong)BitConverter.DoubleToInt64Bits(value + 0.0));
        }

        return hash;
    }

    /// <summary>SplitMix64's finaliser, a bijective 64-bit mix.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
