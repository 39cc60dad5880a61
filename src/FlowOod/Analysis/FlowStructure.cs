using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>
/// What the analyses know about a flow's bijector tree: which steps only move coordinates (squeezes, factor-outs,
/// permutations), which only change values (couplings, ActNorm, 1×1 convolutions, preprocessing), the reshape model built
/// from that, and a forward pass run step by step that stops at every coupling layer.
/// </summary>
internal static class FlowStructure
{
    /// <summary>Throws a <see cref="NotSupportedException"/> naming the first bijector in the tree the analyses do not know.</summary>
    public static void CheckSupported(Bijector bijector)
    {
        switch (bijector)
        {
            case Chain chain:
                foreach (var step in chain.Steps)
                {
                    CheckSupported(step);
                }

                break;
            case FactorOut factorOut:
                CheckSupported(factorOut.Inner);
                break;
            case InverseOf inverse:
                CheckSupported(inverse.Inner);
                break;
            case Squeeze or Permutation or CouplingLayer or ActNorm or InvertibleConv1x1 or LuInvertibleConv1x1 or UniformDequantization or Logit:
                break;
            default:
                throw new NotSupportedException(
                    $"The flow analyses know FlowOod's bijectors (Chain, FactorOut, InverseOf, Squeeze, Permutation, couplings, ActNorm, "
                    + $"1x1 convolutions, UniformDequantization, Logit); {bijector.GetType().Name} is not one of them, so where its "
                    + "output coordinates come from is unknown.");
        }
    }

    /// <summary>
    /// The reshape model of <paramref name="bijector"/> (a tree <see cref="CheckSupported"/> accepts): the same tree with
    /// every value-changing step replaced by the identity, built from new modules that share nothing with the flow; null
    /// when the whole tree is the identity.
    /// </summary>
    public static Bijector? Reshape(Bijector bijector, bool includePreprocessing)
    {
        switch (bijector)
        {
            case Chain chain:
                var steps = new List<Bijector>();
                try
                {
                    foreach (var step in chain.Steps)
                    {
                        if (Reshape(step, includePreprocessing) is { } reshaped)
                        {
                            steps.Add(reshaped);
                        }
                    }
                }
                catch
                {
                    steps.ForEach(s => s.Dispose());
                    throw;
                }

                return steps.Count switch
                {
                    0 => null,
                    1 => steps[0],
                    _ => new Chain(steps),
                };
            case FactorOut factorOut:
                return Reshape(factorOut.Inner, includePreprocessing) is { } inner ? new FactorOut(factorOut.KeepChannels, inner) : null;
            case InverseOf inverse:
                return Reshape(inverse.Inner, includePreprocessing) is { } wrapped ? new InverseOf(wrapped) : null;
            case Squeeze:
                return new Squeeze();
            case Permutation permutation:
                return new Permutation(permutation.Indices.ToArray(), permutation.buffers().First().device);
            case UniformDequantization dequantization:
                return includePreprocessing ? new UniformDequantization(dequantization.AddsNoise) : null;
            case Logit logit:
                return includePreprocessing ? new Logit(logit.Alpha) : null;
            case CouplingLayer or ActNorm or InvertibleConv1x1 or LuInvertibleConv1x1:
                return null;
            default:
                CheckSupported(bijector);
                throw new InvalidOperationException("Unreachable: CheckSupported accepts only the cases above.");
        }
    }

    /// <summary>Whether the tree holds a coupling layer.</summary>
    public static bool ContainsCoupling(Bijector bijector) => bijector switch
    {
        CouplingLayer => true,
        Chain chain => chain.Steps.Any(ContainsCoupling),
        FactorOut factorOut => ContainsCoupling(factorOut.Inner),
        InverseOf inverse => ContainsCoupling(inverse.Inner),
        _ => false,
    };

    /// <summary>
    /// Runs <paramref name="root"/>'s forward pass (data → latent) step by step, calling <paramref name="visit"/> at every
    /// coupling layer with its input, output, s and t; returns the latent, bit for bit what <c>root.Forward</c> gives with
    /// <paramref name="noise"/> given to its dequantization step.
    /// </summary>
    /// <remarks>Runs in the caller's dispose scope and grad mode; the visit's tensors are temporaries of that scope. The
    /// layout of a visit is valid during the visit only.</remarks>
    public static Tensor Walk(Bijector root, Tensor input, NoiseSource noise, Action<CouplingVisit> visit)
    {
        CheckSupported(root);
        using var walker = new Walker(noise, visit);
        var layout = Layout.Root;
        return walker.Step(root, input, ref layout, scale: 1);
    }

    private sealed class Walker(NoiseSource noise, Action<CouplingVisit> visit) : IDisposable
    {
        private readonly List<Bijector> owned = [];
        private int couplings;

        public Tensor Step(Bijector bijector, Tensor input, ref Layout layout, int scale)
        {
            switch (bijector)
            {
                case Chain chain:
                    var current = input;
                    foreach (var step in chain.Steps)
                    {
                        current = Step(step, current, ref layout, scale);
                    }

                    return current;
                case FactorOut factorOut:
                    var keep = factorOut.KeepChannels;
                    if (input.dim() < 2 || input.size(1) <= keep)
                    {
                        throw new ArgumentException(
                            $"FactorOut keeps {keep} channels and needs more than that, got {Shapes.Format(input.Sizes())}.", nameof(input));
                    }

                    var kept = input.narrow(1, 0, keep);
                    var rest = input.narrow(1, keep, input.size(1) - keep);
                    var innerLayout = layout.Embedded(input.size(1));
                    var transformed = Step(factorOut.Inner, kept, ref innerLayout, scale + 1);
                    layout = layout.Then(Own(Reshape(factorOut, includePreprocessing: false)));
                    return cat(new[] { transformed, rest }, 1);
                case CouplingLayer coupling:
                    var (output, logScale, shift) = coupling.ForwardWithParameters(input);
                    couplings++;
                    visit(new CouplingVisit(coupling, couplings, scale, input, output, logScale, shift, layout));
                    return output;
                default:
                    if (bijector is InverseOf inverse && ContainsCoupling(inverse.Inner))
                    {
                        throw new NotSupportedException(
                            "The flow analyses cannot look inside an InverseOf that holds coupling layers; compose the flow with forward couplings.");
                    }

                    var (result, _) = bijector is UniformDequantization dequantization
                        ? dequantization.Forward(input, noise.Uniform(input))
                        : bijector.Forward(input);
                    layout = layout.Then(Own(Reshape(bijector, includePreprocessing: false)));
                    return result;
            }
        }

        public void Dispose() => owned.ForEach(b => b.Dispose());

        private Bijector? Own(Bijector? bijector)
        {
            if (bijector is not null)
            {
                owned.Add(bijector);
            }

            return bijector;
        }
    }
}

/// <summary>One coupling layer met by <see cref="FlowStructure.Walk"/>: its tensors at the layer's own shape.</summary>
/// <param name="Layer">The coupling.</param>
/// <param name="Number">1-based position among the flow's couplings, in forward order.</param>
/// <param name="Scale">1 + the number of factor-outs the layer sits inside.</param>
/// <param name="Input">The layer's input <c>[N, layerShape...]</c>.</param>
/// <param name="Output">The layer's output, same shape.</param>
/// <param name="LogScale">s, same shape, zero outside the transformed entries; null for a volume-preserving layer.</param>
/// <param name="Shift">t, same shape, zero outside the transformed entries; null when the layer does not say.</param>
/// <param name="Layout">Maps a tensor of the layer's shape to the flow's event layout.</param>
internal sealed record CouplingVisit(
    CouplingLayer Layer, int Number, int Scale, Tensor Input, Tensor Output, Tensor? LogScale, Tensor? Shift, Layout Layout)
{
    /// <summary>The display name, e.g. "coupling 3 (scale 1)".</summary>
    public string Name => $"coupling {Number} (scale {Scale})";
}

/// <summary>
/// How a tensor at one point of a flow's forward pass maps back to the flow's event layout: the inverses of the reshape
/// steps since the input, innermost first, with the channels a factor-out set aside filled with zeros.
/// </summary>
internal sealed class Layout
{
    private readonly Layout? outer;
    private readonly Bijector? reshape;
    private readonly long embedInChannels;

    private Layout(Layout? outer, Bijector? reshape, long embedInChannels)
    {
        this.outer = outer;
        this.reshape = reshape;
        this.embedInChannels = embedInChannels;
    }

    /// <summary>The flow's input: the event layout itself.</summary>
    public static Layout Root { get; } = new(null, null, 0);

    /// <summary>The layout after a step whose reshape model is <paramref name="step"/> (null: the identity).</summary>
    public Layout Then(Bijector? step) => step is null ? this : new Layout(this, step, 0);

    /// <summary>The layout of the leading channels a factor-out passes on, out of <paramref name="channels"/>.</summary>
    public Layout Embedded(long channels) => new(this, null, channels);

    /// <summary>Maps <paramref name="value"/> <c>[N, ...]</c> at this point to the event layout (a new tensor).</summary>
    public Tensor ToEvent(Tensor value)
    {
        var current = value;
        for (var node = this; node.outer is not null; node = node.outer)
        {
            if (node.reshape is { } step)
            {
                current = step.Inverse(current).Output;
            }
            else
            {
                var shape = current.Sizes().ToArray();
                shape[1] = node.embedInChannels - shape[1];
                current = cat(new[] { current, zeros(shape, dtype: current.dtype, device: current.device) }, 1);
            }
        }

        return ReferenceEquals(current, value) ? value.clone() : current;
    }
}
