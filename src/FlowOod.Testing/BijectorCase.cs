using System;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Testing;

/// <summary>
/// One conformance case: how to create a bijector, the event shape to feed it and what its inputs and latents look like.
/// </summary>
/// <remarks>
/// <para>The kit runs every check in float64 on a <i>prepared</i> bijector (<see cref="CreatePrepared"/>): parameters
/// perturbed by Gaussian noise (<see cref="Perturb"/>) so zero-initialised st-networks are not the identity, and a few
/// training-mode forwards so BatchNorm running statistics are not the trivial (0, 1). Without that, a fresh coupling
/// layer passes every check vacuously.</para>
/// <para>The kit never seeds or changes torch's global generator: its perturbations, inputs and latents come from
/// generators of its own (seeded, so a run repeats). <see cref="Create"/>'s own random initialisation is whatever your
/// constructor draws, usually from the global generator: seed it before running the kit if a run must repeat bit for
/// bit.</para>
/// </remarks>
public sealed class BijectorCase
{
    /// <summary>Standard deviation of the Gaussian perturbation added to every parameter by <see cref="CreatePrepared"/>
    /// (for weights of fan-in F at most 1/√F; see <see cref="Perturb"/>).</summary>
    public const double PerturbationStd = 0.1;

    /// <summary>Training-mode forwards that move BatchNorm's running statistics (momentum 0.1) away from (0, 1).</summary>
    public const int WarmUpForwards = 4;

    /// <summary>A unique, readable name (shown in failure messages).</summary>
    public required string Name { get; init; }

    /// <summary>Creates a fresh bijector (float32 is fine; the kit converts it to float64).</summary>
    public required Func<Bijector> Create { get; init; }

    /// <summary>The per-example input shape, e.g. <c>[2, 4, 4]</c>.</summary>
    public required long[] EventShape { get; init; }

    /// <summary>The per-example output shape when it differs from the input's (e.g. squeeze).</summary>
    public long[]? OutputEventShapeOverride { get; init; }

    /// <summary>The per-example output shape.</summary>
    public long[] OutputEventShape => OutputEventShapeOverride ?? EventShape;

    /// <summary>What the inputs look like. Default <see cref="InputKind.Gaussian"/>.</summary>
    public InputKind Input { get; init; } = InputKind.Gaussian;

    /// <summary>Where Forward(Inverse(y)) latents come from. Default <see cref="LatentKind.Gaussian"/>.</summary>
    public LatentKind Latent { get; init; } = LatentKind.Gaussian;

    /// <summary>Inverse(Forward(x)) == x bit for bit (the last inverse step quantizes to the 8-bit grid).</summary>
    public bool InverseIsExact { get; init; }

    /// <summary>Forward is a deterministic function of its input (false when it draws noise). Default true.</summary>
    public bool Deterministic { get; init; } = true;

    /// <summary>Why a check is skipped or specialised for this case.</summary>
    public string? Note { get; init; }

    /// <summary>D, entries per example.</summary>
    public long Dimensions => EventShape.Aggregate(1L, (a, b) => a * b);

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Inputs <c>[n, EventShape...]</c> in float64.</summary>
    /// <param name="n">How many examples.</param>
    /// <param name="generator">The random source, or null for torch's global generator.</param>
    public Tensor SampleInput(long n, Generator? generator = null)
    {
        var shape = new[] { n }.Concat(EventShape).ToArray();
        // Scalars created with `using` stay reachable until the native call has returned (docs/design.md, "Scalars").
        using var width = 0.98.ToScalar();
        using var offset = 0.01.ToScalar();
        using var levels = 255.0.ToScalar();
        return Input switch
        {
            InputKind.Gaussian => randn(shape, dtype: ScalarType.Float64, generator: generator),
            InputKind.UnitInterval => rand(shape, dtype: ScalarType.Float64, generator: generator).mul_(width).add_(offset, KitScalars.One),
            InputKind.EightBit => randint(0, 256, shape, dtype: ScalarType.Float64, generator: generator).div_(levels),
            _ => throw new InvalidOperationException($"Unknown input kind {Input}."),
        };
    }

    /// <summary>Latents <c>[n, OutputEventShape...]</c> in float64, or null when the case has none.</summary>
    /// <param name="bijector">The prepared bijector (for latents that are images of inputs).</param>
    /// <param name="n">How many examples.</param>
    /// <param name="generator">The random source, or null for torch's global generator.</param>
    public Tensor? SampleLatent(Bijector bijector, long n, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        switch (Latent)
        {
            case LatentKind.Gaussian:
                return randn(new[] { n }.Concat(OutputEventShape).ToArray(), dtype: ScalarType.Float64, generator: generator);
            case LatentKind.ForwardImageOfInputs:
                using (no_grad())
                using (var input = SampleInput(n, generator))
                {
                    // A noisy bijector is evaluated at the bin centres: it draws nothing from torch's global generator.
                    var (output, logDet) = Deterministic ? bijector.Forward(input) : bijector.Forward(input, ScoringNoise.BinCentres);
                    logDet.Dispose();
                    return output;
                }

            default:
                return null;
        }
    }

    /// <summary>
    /// A fresh bijector in float64 whose parameters are perturbed and whose BatchNorm statistics are warmed up, left in
    /// eval() mode; the caller disposes the result.
    /// </summary>
    /// <remarks>The perturbation and the warm-up inputs (and their dequantization noise) come from a generator seeded
    /// with <paramref name="seed"/>; <see cref="Create"/>'s own initialisation is not seeded by the kit (see the
    /// remarks of <see cref="BijectorCase"/>).</remarks>
    /// <param name="seed">Seeds the kit's generator.</param>
    public Bijector CreatePrepared(long seed = 20240611)
    {
        var bijector = Create();
        bijector.to(ScalarType.Float64);
        if (bijector.parameters().Any())
        {
            using var generator = new Generator((ulong)seed);
            Perturb(bijector, generator);
            bijector.train();
            var warmUpNoise = ScoringNoise.Seeded((ulong)seed);
            for (int i = 0; i < WarmUpForwards; i++)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                bijector.Forward(SampleInput(8, generator), warmUpNoise);
            }
        }

        bijector.eval();
        return bijector;
    }

    /// <summary>
    /// Adds N(0, σ²) noise to every parameter of <paramref name="module"/>: σ = <see cref="PerturbationStd"/> for
    /// parameters of rank 0 or 1 (biases, per-channel scales), and σ = min(<see cref="PerturbationStd"/>, 1/√F) for
    /// weights of rank ≥ 2 with fan-in F = elements / size of dimension 0 (inputs per output of a linear or
    /// convolution weight <c>[out, in, k...]</c>).
    /// </summary>
    /// <remarks>
    /// The cap keeps the perturbation alone at a gain of about 1 (RMS) per layer whatever the layer's width. Without it
    /// the noise amplifies each layer by ≈ 0.1·√F: for the auto-encoder st-network (fan-ins up to 1024, nine layers) the
    /// prepared network reached gains ~10⁴, activations ~10⁴ from inputs ~1, and the composite checks measured the
    /// round-off amplification of that unrealistic network (Forward + Inverse LogDet ~10⁻⁷ through a stack of couplings,
    /// whose inverse feeds each st-network the previous inverse's slightly inexact output) instead of the bijector.
    /// Layers with F ≤ 100 get the plain <see cref="PerturbationStd"/>.
    /// </remarks>
    /// <param name="module">The module whose parameters are perturbed in place.</param>
    /// <param name="generator">The random source (on the parameters' device), or null for torch's global generator.</param>
    public static void Perturb(nn.Module module, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            var noise = randn(parameter.shape, dtype: parameter.dtype, device: parameter.device, generator: generator);
            using var std = PerturbationStdOf(parameter).ToScalar();
            parameter.add_(noise.mul_(std), KitScalars.One);
        }
    }

    private static double PerturbationStdOf(Tensor parameter)
    {
        if (parameter.dim() < 2 || parameter.numel() == 0)
        {
            return PerturbationStd;
        }

        var fanIn = parameter.numel() / parameter.shape[0];
        return Math.Min(PerturbationStd, 1.0 / Math.Sqrt(fanIn));
    }
}
