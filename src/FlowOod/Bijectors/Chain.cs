using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>Composes bijectors: <see cref="Bijector.Forward(Tensor)"/> applies them in list order, the first one first.</summary>
/// <remarks>
/// For <c>new Chain(f₁, f₂, …, fₖ)</c>: Forward(x) = fₖ(…f₂(f₁(x))) with LogDet = Σᵢ LogDetᵢ, and Inverse applies
/// f⁻¹ₖ first, ending with f⁻¹₁. This is nflows' order (data → latent reads left to right), not distrax/TFP's.
/// Each step frees its own temporaries before the next runs.
/// </remarks>
public sealed partial class Chain : Bijector
{
    private readonly ModuleList<Bijector> steps;

    /// <summary>Creates a chain of <paramref name="bijectors"/>, applied in the given order by Forward.</summary>
    /// <exception cref="ArgumentException">The list is empty or contains null.</exception>
    public Chain(params Bijector[] bijectors)
        : this((IEnumerable<Bijector>)bijectors)
    {
    }

    /// <summary>Creates a chain of <paramref name="bijectors"/>, applied in the given order by Forward.</summary>
    /// <exception cref="ArgumentException">The list is empty or contains null.</exception>
    public Chain(IEnumerable<Bijector> bijectors)
        : base(nameof(Chain))
    {
        ArgumentNullException.ThrowIfNull(bijectors);
        var list = bijectors.ToArray();
        if (list.Length == 0 || list.Any(b => b is null))
        {
            throw new ArgumentException("A chain needs at least one bijector and no null entries.", nameof(bijectors));
        }

        steps = new ModuleList<Bijector>(list);
        RegisterComponents();
    }

    /// <summary>The bijectors, in Forward order.</summary>
    public IReadOnlyList<Bijector> Steps => steps.ToList();

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        var (output, logDet) = steps[0].Forward(input);
        return ForwardFrom(1, output, logDet);
    }

    /// <summary>
    /// The rest of <see cref="Bijector.Forward(Tensor)"/> after the steps before <paramref name="first"/> gave
    /// <paramref name="input"/> and their summed <paramref name="logDet"/>: the same steps and sums, bit for bit, as a
    /// Forward of the whole chain. Runs in the caller's dispose scope.
    /// </summary>
    internal (Tensor Output, Tensor LogDet) ForwardFrom(int first, Tensor input, Tensor logDet)
    {
        var current = input;
        for (int i = first; i < steps.Count; i++)
        {
            var (output, stepLogDet) = steps[i].Forward(current);
            logDet = logDet.Plus(stepLogDet);
            current = output;
        }

        return (current, logDet);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var current = input;
        Tensor? logDet = null;
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            var (output, stepLogDet) = steps[i].Inverse(current);
            logDet = logDet is null ? stepLogDet : logDet.Plus(stepLogDet);
            current = output;
        }

        return (current, logDet!);
    }
}
