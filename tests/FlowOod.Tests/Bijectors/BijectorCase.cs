using System;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// What the inputs x of a case look like.
public enum InputKind
{
    // Standard normal entries: any real value is valid.
    Gaussian,

    // Uniform in [0.01, 0.99]: the open unit interval, away from the logit's singularities.
    UnitInterval,

    // 8-bit data k/255, k uniform in 0..255, as image loaders produce.
    EightBit,
}

// Where the latent points y of the Forward(Inverse(y)) check come from.
public enum LatentKind
{
    // Standard normal entries of the output shape: every latent is in the bijector's range.
    Gaussian,

    // y = Forward(x) for sampled inputs x: the inverse quantizes, so only images of grid points round-trip.
    ForwardImageOfInputs,

    // Forward(Inverse(y)) ≈ y does not hold for any useful y (see the case's Note).
    NotApplicable,
}

public sealed class BijectorCase
{
    public required string Name { get; init; }

    public required Func<Bijector> Create { get; init; }

    public required long[] EventShape { get; init; }

    public long[]? OutputEventShapeOverride { get; init; }

    public long[] OutputEventShape => OutputEventShapeOverride ?? EventShape;

    public InputKind Input { get; init; } = InputKind.Gaussian;

    public LatentKind Latent { get; init; } = LatentKind.Gaussian;

    // Inverse(Forward(x)) == x bit for bit (the last inverse step quantizes to the 8-bit grid).
    public bool InverseIsExact { get; init; }

    // Forward is a deterministic function of its input (false when it draws noise).
    public bool Deterministic { get; init; } = true;

    // Why a check is skipped or specialised for this case.
    public string? Note { get; init; }

    public long Dimensions => EventShape.Aggregate(1L, (a, b) => a * b);

    public override string ToString() => Name;

    // Inputs [n, EventShape...] in float64, drawn from torch's global generator (seed it first).
    public Tensor SampleInput(long n)
    {
        var shape = new[] { n }.Concat(EventShape).ToArray();
        return Input switch
        {
            InputKind.Gaussian => randn(shape, dtype: ScalarType.Float64),
            InputKind.UnitInterval => rand(shape, dtype: ScalarType.Float64).mul_(0.98).add_(0.01),
            InputKind.EightBit => randint(0, 256, shape, dtype: ScalarType.Float64).div_(255.0),
            _ => throw new InvalidOperationException($"Unknown input kind {Input}."),
        };
    }

    // Latents [n, OutputEventShape...] in float64, or null when the case has none (LatentKind.NotApplicable).
    public Tensor? SampleLatent(Bijector bijector, long n)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        switch (Latent)
        {
            case LatentKind.Gaussian:
                return randn(new[] { n }.Concat(OutputEventShape).ToArray(), dtype: ScalarType.Float64);
            case LatentKind.ForwardImageOfInputs:
                using (no_grad())
                using (var input = SampleInput(n))
                {
                    var (output, logDet) = bijector.Forward(input);
                    logDet.Dispose();
                    return output;
                }

            default:
                return null;
        }
    }

    // A fresh bijector in float64 whose st-networks are not the identity, with non-trivial BatchNorm running statistics,
    // left in eval() mode. Seeds torch's global generator, so callers belong to the TorchGlobalState collection.
    public Bijector CreatePrepared(long seed = 20240611)
    {
        random.manual_seed(seed);
        var bijector = Create();
        bijector.to(ScalarType.Float64);
        if (bijector.parameters().Any())
        {
            BijectorPreparation.Perturb(bijector);
            bijector.train();
            for (int i = 0; i < BijectorPreparation.WarmUpForwards; i++)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                bijector.Forward(SampleInput(8));
            }
        }

        bijector.eval();
        return bijector;
    }
}

internal static class BijectorPreparation
{
    // Standard deviation of the Gaussian perturbation added to every parameter. The last conv of every st-network is
    // zero-initialised, so without it every coupling is the identity and every check passes vacuously.
    public const double PerturbationStd = 0.1;

    // Training-mode forwards that move BatchNorm's running statistics (momentum 0.1) away from mean 0 / variance 1.
    public const int WarmUpForwards = 4;

    public static void Perturb(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            parameter.add_(randn_like(parameter).mul_(PerturbationStd));
        }
    }
}
