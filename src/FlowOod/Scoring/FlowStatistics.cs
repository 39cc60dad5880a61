using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Distributions;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The summary statistics <see cref="DoseScorer"/> reads off one forward pass of a flow: a vector t(x) of S numbers per
/// example whose layout is fixed by the flow's bijector tree.
/// </summary>
/// <remarks>
/// <para>With the flow's transform f a <see cref="Chain"/> of top-level steps f₁ … f_T (or the single step f₁ when it is
/// not a chain) and F factor-outs found by descending into chains and factor-outs (numbered in forward order), the
/// layout is, in this order:</para>
/// <list type="number">
/// <item><description>log p(x), the flow's log-likelihood in nats (bit for bit <c>flow.LogProb</c> with the same noise);</description></item>
/// <item><description>log p_Z(z), the base log-density of the whole latent z = f(x);</description></item>
/// <item><description>for each top-level step i: the sum of the log-determinants of the bijectors in fᵢ that lie outside
/// every factor-out (a top-level step that is a factor-out has 0 here);</description></item>
/// <item><description>for each factor-out k: the sum of the log-determinants of the bijectors inside its inner bijector
/// and outside deeper factor-outs (one scale of a multi-scale flow), then log 𝒩(r_k; 0, I) = −½‖r_k‖² − (d_k/2)·log 2π of
/// the d_k entries r_k it sets aside.</description></item>
/// </list>
/// <para>So S = 2 + T + 2F, and log p(x) = log p_Z(z) + (the sum of every log-determinant statistic). For FlowOod's
/// multi-scale builders (<c>RealNvp</c>, <c>Glow</c>) with L scales, T = 3 (dequantization, logit, the first scale) and
/// F = L − 1: one log-determinant per scale and one set-aside log-density per factored-out latent.</para>
/// <para>The pass walks the tree as <see cref="Chain"/> and <see cref="FactorOut"/> run it (every other bijector is
/// called through its own <see cref="Bijector.Forward(Tensor)"/>; the leading dequantization receives the call's noise)
/// and writes nothing on the flow, so any number of threads may use it at once.</para>
/// </remarks>
internal sealed class FlowStatistics
{
    private readonly NormalizingFlow flow;
    private readonly Bijector[] topLevel;
    private readonly string[] names;

    private FlowStatistics(NormalizingFlow flow)
    {
        this.flow = flow;
        topLevel = flow.Transform is Chain chain ? chain.Steps.ToArray() : [flow.Transform];
        var list = new List<string> { "log p(x)", "log p_Z(z)" };
        for (int i = 0; i < topLevel.Length; i++)
        {
            list.Add($"log-det of step {i + 1} ({topLevel[i].GetType().Name})");
        }

        var factorOuts = topLevel.Sum(CountFactorOuts);
        for (int k = 0; k < factorOuts; k++)
        {
            list.Add($"log-det inside factor-out {k + 1}");
            list.Add($"log N(0, I) of the entries factor-out {k + 1} sets aside");
        }

        names = [.. list];
        FirstFactorOutSlot = 2 + topLevel.Length;
    }

    /// <summary>S, the statistics per example.</summary>
    public int Count => names.Length;

    /// <summary>What each statistic is, in layout order.</summary>
    public IReadOnlyList<string> Names => names;

    private int FirstFactorOutSlot { get; }

    /// <summary>The layout of <paramref name="flow"/>'s statistics.</summary>
    public static FlowStatistics Of(NormalizingFlow flow) => new(flow ?? throw new ArgumentNullException(nameof(flow)));

    /// <summary>
    /// The statistics of every example of <paramref name="batch"/> (validated against the flow already), in chunks of
    /// <paramref name="chunkSize"/> (at most; <see cref="ChunkBudget.Cap"/>) under inference mode: row-major <c>[N, S]</c> in float64.
    /// </summary>
    /// <exception cref="InvalidOperationException">The flow is in training mode.</exception>
    public double[] Compute(Tensor batch, int chunkSize, ScoringNoise noise)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        FlowEvaluation.EnsureEvaluationMode(flow);
        var count = batch.size(0);
        chunkSize = ChunkBudget.Cap(flow, batch, chunkSize);
        var result = new double[checked(count * Count)];
        var device = flow.parameters().Select(p => p.device).FirstOrDefault();
        using var inference = inference_mode();
        using var source = noise.Open();
        for (long start = 0; start < count; start += chunkSize)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(chunkSize, count - start);
            var chunk = batch.narrow(0, start, length);
            if (device is not null && (chunk.device_type != device.type || chunk.device_index != device.index))
            {
                chunk = chunk.to(device);
            }

            var statistics = Chunk(chunk, source);
            statistics.to_type(ScalarType.Float64).cpu().contiguous().data<double>().CopyTo(result, (int)(start * Count));
        }

        return result;
    }

    // [n, S] for one chunk; runs in the caller's dispose scope.
    private Tensor Chunk(Tensor input, NoiseSource noise)
    {
        IntraOpThreads.Adopt();
        var slots = new Tensor?[Count];
        var walk = new Walk(noise, slots, FirstFactorOutSlot);

        // The top level as Chain.Forward runs it: the first step's log-det, then each next one added in order.
        var (current, total) = walk.Step(topLevel[0], input, owner: 2);
        for (int i = 1; i < topLevel.Length; i++)
        {
            var (output, logDet) = walk.Step(topLevel[i], current, owner: 2 + i);
            total = total.Plus(logDet);
            current = output;
        }

        var latentLogDensity = flow.BaseDistribution.LogProb(current);
        slots[0] = latentLogDensity.Plus(total);
        slots[1] = latentLogDensity;
        for (int j = 0; j < slots.Length; j++)
        {
            slots[j] ??= zeros(input.size(0), dtype: total.dtype, device: total.device);
        }

        return stack(slots!, 1);
    }

    private static int CountFactorOuts(Bijector bijector) => bijector switch
    {
        Chain chain => chain.Steps.Sum(CountFactorOuts),
        FactorOut factorOut => 1 + CountFactorOuts(factorOut.Inner),
        _ => 0,
    };

    // One pass over the tree: chains and factor-outs as they run themselves (the same sums in the same order), every other
    // bijector through its own Forward, its log-det added to the statistic of the step or factor-out that holds it.
    private sealed class Walk(NoiseSource noise, Tensor?[] slots, int firstFactorOutSlot)
    {
        private int factorOuts;

        public (Tensor Output, Tensor LogDet) Step(Bijector bijector, Tensor input, int owner)
        {
            switch (bijector)
            {
                case Chain chain:
                    var steps = chain.Steps;
                    var (current, total) = Step(steps[0], input, owner);
                    for (int i = 1; i < steps.Count; i++)
                    {
                        var (output, logDet) = Step(steps[i], current, owner);
                        total = total.Plus(logDet);
                        current = output;
                    }

                    return (current, total);
                case FactorOut factorOut:
                    var keep = factorOut.KeepChannels;
                    if (input.dim() < 2 || input.size(1) <= keep)
                    {
                        throw new ArgumentException(
                            $"FactorOut keeps {keep} channels and needs more than that, got {Shapes.Format(input.Sizes())}.", nameof(input));
                    }

                    var slot = firstFactorOutSlot + (2 * factorOuts++);
                    var kept = input.narrow(1, 0, keep);
                    var rest = input.narrow(1, keep, input.size(1) - keep);
                    var (transformed, innerLogDet) = Step(factorOut.Inner, kept, slot);
                    if (!transformed.Sizes().AsSpan().SequenceEqual(kept.Sizes()))
                    {
                        throw new InvalidOperationException(
                            $"FactorOut's inner bijector changed the shape {Shapes.Format(kept.Sizes())} to {Shapes.Format(transformed.Sizes())}; it must preserve it.");
                    }

                    slots[slot] ??= zeros(input.size(0), dtype: innerLogDet.dtype, device: innerLogDet.device);
                    slots[slot + 1] = StandardNormalLogDensity(rest);
                    return (cat(new[] { transformed, rest }, 1), innerLogDet);
                default:
                    var (result, stepLogDet) = bijector is UniformDequantization dequantization
                        ? dequantization.Forward(input, noise.Uniform(input))
                        : bijector.Forward(input);
                    slots[owner] = slots[owner] is { } sum ? sum.Plus(stepLogDet) : stepLogDet;
                    return (result, stepLogDet);
            }
        }

        // log N(r; 0, I) per example, summed over the d entries: the standard normal's own formula.
        private static Tensor StandardNormalLogDensity(Tensor rest) => StandardNormal.Instance.LogProb(rest);
    }
}
