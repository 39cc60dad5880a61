using System;

namespace FlowOod.Scoring;

/// <summary>Settings of <see cref="TypicalityTest"/>'s <c>Fit</c> methods, besides the flow, the data and M.</summary>
public sealed record TypicalityTestOptions
{
    /// <summary>α, the target false-positive rate (fraction of in-distribution batches rejected), in (0, 1). Default 0.05.</summary>
    public double Alpha { get; init; } = 0.05;

    /// <summary>
    /// K, the number of bootstrap batches, at least <see cref="TypicalityTest.MinimumBootstrapSamples"/>(α). Default
    /// <see cref="TypicalityTest.DefaultBootstrapSamples"/> (1000).
    /// </summary>
    public int BootstrapSamples { get; init; } = TypicalityTest.DefaultBootstrapSamples;

    /// <summary>Seed of the bootstrap's <see cref="Random"/>. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Examples evaluated at once (bounds memory), positive. Default 256.</summary>
    public int ChunkSize { get; init; } = 256;

    /// <summary>Dequantization noise for fitting and testing. Default <see cref="ScoringNoise.BinCentres"/>.</summary>
    public ScoringNoise Noise { get; init; } = ScoringNoise.BinCentres;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentNullException"><see cref="Noise"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α is not in (0, 1) or the chunk size is not positive.</exception>
    /// <exception cref="ArgumentException">K is below <see cref="TypicalityTest.MinimumBootstrapSamples"/>(α).</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Noise, nameof(Noise));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ChunkSize, nameof(ChunkSize));
        if (!(Alpha > 0 && Alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, $"The level α must lie in (0, 1), got {Alpha}.");
        }

        var minimum = TypicalityTest.MinimumBootstrapSamples(Alpha);
        if (BootstrapSamples < minimum)
        {
            throw new ArgumentException(
                $"The typicality test at α = {Alpha} needs at least {minimum} bootstrap statistics (max(100, ⌈10/α⌉)), got {BootstrapSamples}.",
                nameof(BootstrapSamples));
        }
    }
}
