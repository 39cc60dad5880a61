using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Precision;

/// <summary>
/// Reduced-precision st-networks: where the FLOPs of a coupling flow are (its conditioners' convolutions), computed in
/// bf16, while everything that makes the flow a flow stays in its own dtype.
/// </summary>
/// <remarks>
/// <para>In a coupling layer with conditioning entries x_b and transformed entries x_m, the st-network computes
/// (ŝ, t) = NN(x_b) and the layer y_m = x_m·exp(s(ŝ)) + t, log|det J| = Σ s. With a bf16 st-network, x_b is cast to bf16
/// on the way in and (ŝ, t) back to the flow's dtype on the way out; the scale activation, the affine map, the
/// log-determinant, the base log-density and every sum run in the flow's dtype. The flow stays exactly invertible
/// (the inverse recomputes (ŝ, t) from the same, unchanged x_b, in the same precision), and the density it defines is
/// that of a slightly different flow: log p(x) moves by the bf16 rounding of (ŝ, t), which
/// <c>tests/FlowOod.Tests/Precision</c> bounds on a trained flow.</para>
/// <para>For scoring, <see cref="CreateInferenceCopy"/> builds a frozen copy whose st-network weights are stored in bf16
/// (converted once, not per call); give it to any scorer. For training, <c>TrainingOptions.Precision</c> runs the
/// st-networks in bf16 with the fp32 parameters as master weights (cast per call; gradients and the optimizer in fp32).</para>
/// <para>A coupling layer whose st-network contains a linear bottleneck stays in float32 whatever is requested: trained
/// with bf16 st-networks, the l = 20 auto-encoder flow of Sec. 7 (375 steps) gave 5.86 held-out bits/dim scored in bf16 and 30.3 in float32.</para>
/// <para>Speed depends on the processor: with native bf16 dot products (<c>avx512_bf16</c>, AMX) libtorch's bf16
/// convolutions can run 2× faster than fp32 or more; without them bf16 is emulated and slower. <see cref="Choose"/>
/// decides <see cref="ComputePrecision.Auto"/> from the processor's flags, never by timing, so the same machine always
/// gives the same scores.</para>
/// </remarks>
public static class ConditionerPrecision
{
    /// <summary>Resolves <paramref name="requested"/> for <paramref name="device"/> on <paramref name="processor"/>.</summary>
    /// <param name="requested">The request.</param>
    /// <param name="device">Where the flow lives (null: CPU).</param>
    /// <param name="processor">The processor to decide for (null: <see cref="ProcessorInfo.Current"/>).</param>
    /// <returns>The precision to use and the reason.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="requested"/> is not a defined value.</exception>
    public static PrecisionChoice Choose(ComputePrecision requested, Device? device = null, ProcessorInfo? processor = null)
    {
        processor ??= ProcessorInfo.Current;
        if (!Enum.IsDefined(requested))
        {
            throw new ArgumentOutOfRangeException(nameof(requested), requested, "Unknown compute precision.");
        }

        var onCpu = device is null || device.type == DeviceType.CPU;
        var native = processor.HasNativeBFloat16 ? (processor.HasAmxBFloat16 ? "amx_bf16" : "avx512_bf16") : null;
        return requested switch
        {
            ComputePrecision.Float32 => new(requested, ComputePrecision.Float32, "float32 was requested."),
            ComputePrecision.BFloat16 when !onCpu || native is not null => new(requested, ComputePrecision.BFloat16, "bf16 was requested."),
            ComputePrecision.BFloat16 => new(
                requested,
                ComputePrecision.BFloat16,
                $"bf16 was requested, but this processor ({processor.Model}) lists neither avx512_bf16 nor amx_bf16: libtorch emulates bf16 here, "
                + "many times slower than float32 (the compact RealNVP's bf16 inference copy scored 12-17x slower than its float32 one on an "
                + "AMD EPYC with avx2 only)."),
            _ when !onCpu => new(
                requested,
                ComputePrecision.Float32,
                $"Auto chooses bf16 only on a CPU whose flags it can read; the flow is on {device}. Request BFloat16 explicitly for a GPU with bf16 support."),
            _ when native is not null => new(requested, ComputePrecision.BFloat16, $"this processor ({processor.Model}) lists {native}: bf16 st-networks."),
            _ => new(
                requested,
                ComputePrecision.Float32,
                $"this processor ({processor.Model}) lists neither avx512_bf16 nor amx_bf16, so bf16 would be emulated and slower: float32."),
        };
    }

    /// <summary>
    /// A frozen copy of <paramref name="flow"/> for scoring: evaluation mode, no gradients, every evaluation-mode BatchNorm
    /// of its st-networks that can be folded exactly folded into the adjacent convolution, and with
    /// <see cref="ComputePrecision.BFloat16"/> every coupling layer's st-network converted to bf16 (weights, biases and
    /// normalisation statistics, once). The copy is independent of <paramref name="flow"/> and owned by the caller
    /// (dispose it, or give it to a scorer with <c>ownsFlow: true</c>).
    /// </summary>
    /// <param name="flow">The trained flow (left unchanged).</param>
    /// <param name="precision">The st-networks' precision; Auto is resolved by <see cref="Choose"/>.</param>
    /// <returns>The copy.</returns>
    /// <exception cref="NotSupportedException">The flow was not built from builder options (it cannot be copied).</exception>
    /// <remarks>
    /// <para>Folding (ResNet st-networks): in evaluation mode BN(x) = a·x + c per channel with a = γ/√(σ²+ε) and
    /// c = β − μ·a, so conv → BN is one conv with weights W·a and bias b·a + c; the sum of the skip taps → BN folds into
    /// every tap; weight-normalised convolutions become plain ones. A BN followed
    /// by ReLU is kept. The folded weights are computed in float64 from the copy's parameters, which are kept unchanged,
    /// so the copy saves and copies as the unfolded flow. In float32 the log-likelihoods move by the rounding of the
    /// folded weights only (tests bound it at 10⁻⁴ nats/dim); <see cref="CreateUnfusedInferenceCopy"/> scores bit for bit
    /// like <paramref name="flow"/> in evaluation mode.</para>
    /// <para>Train the original, not the copy, and save the original: the copy's bf16 weights are rounded.</para>
    /// </remarks>
    public static NormalizingFlow CreateInferenceCopy(NormalizingFlow flow, ComputePrecision precision = ComputePrecision.Auto) =>
        Create(flow, precision, fold: true);

    /// <summary>
    /// <see cref="CreateInferenceCopy"/> without folding BatchNorm into the convolutions: in float32 it scores bit for bit
    /// like <paramref name="flow"/> in evaluation mode (for a reference, or to measure what folding gains).
    /// </summary>
    /// <param name="flow">The trained flow (left unchanged).</param>
    /// <param name="precision">The st-networks' precision; Auto is resolved by <see cref="Choose"/>.</param>
    /// <returns>The copy, owned by the caller.</returns>
    /// <exception cref="NotSupportedException">The flow was not built from builder options (it cannot be copied).</exception>
    public static NormalizingFlow CreateUnfusedInferenceCopy(NormalizingFlow flow, ComputePrecision precision) =>
        Create(flow, precision, fold: false);

    /// <summary>
    /// Folds the evaluation-mode BatchNorms of every coupling layer's st-network of <paramref name="flow"/> into its
    /// convolutions (<see cref="IFoldableConditioner"/>): for a flow nobody else holds yet, in evaluation mode.
    /// </summary>
    internal static void FoldForInference(NormalizingFlow flow)
    {
        foreach (var foldable in flow.modules().OfType<CouplingLayer>().SelectMany(c => Foldables(c.Conditioner)))
        {
            foldable.FoldForInference();
        }
    }

    /// <summary>
    /// Converts every coupling layer's st-network of <paramref name="flow"/> to bf16 in place, once (folded weights
    /// too): for a flow nobody else holds yet (a private copy, a flow just loaded for scoring).
    /// </summary>
    internal static void ConvertForInference(NormalizingFlow flow)
    {
        foreach (var coupling in flow.modules().OfType<CouplingLayer>().Where(AcceptsBFloat16))
        {
            LowPrecision.ConvertForInference(coupling.Conditioner, ScalarType.BFloat16);
            foreach (var foldable in Foldables(coupling.Conditioner))
            {
                foldable.ConvertFolded(ScalarType.BFloat16);
            }

            coupling.ConditionerDtype = ScalarType.BFloat16;
        }
    }

    /// <summary>
    /// Runs <paramref name="flow"/>'s st-networks in <paramref name="precision"/> with their parameters unchanged (mixed
    /// precision, for a training run) until the returned scope is disposed, which restores each coupling's setting.
    /// </summary>
    internal static IDisposable Train(NormalizingFlow flow, ComputePrecision precision)
    {
        var couplings = flow.modules().OfType<CouplingLayer>().ToArray();
        var before = couplings.Select(c => c.ConditionerDtype).ToArray();
        if (precision == ComputePrecision.BFloat16)
        {
            foreach (var coupling in couplings.Where(AcceptsBFloat16))
            {
                coupling.ConditionerDtype = ScalarType.BFloat16;
            }
        }

        return new Restore(couplings, before);
    }

    /// <summary>The precision <paramref name="flow"/>'s coupling layers compute their st-networks in: BFloat16 when any
    /// does, otherwise Float32.</summary>
    /// <param name="flow">The flow.</param>
    /// <returns>The precision.</returns>
    public static ComputePrecision Of(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return flow.modules().OfType<CouplingLayer>().Any(c => c.ConditionerDtype == ScalarType.BFloat16) ? ComputePrecision.BFloat16 : ComputePrecision.Float32;
    }

    private static NormalizingFlow Create(NormalizingFlow flow, ComputePrecision precision, bool fold)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var device = flow.parameters().Select(p => p.device).FirstOrDefault();
        var choice = Choose(precision, device);
        var copy = FlowCopy.Of(flow);
        try
        {
            copy.eval();
            foreach (var parameter in copy.parameters())
            {
                parameter.requires_grad_(false);
            }

            if (fold)
            {
                FoldForInference(copy);
            }

            if (choice.Precision == ComputePrecision.BFloat16)
            {
                ConvertForInference(copy);
            }

            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    // False when the st-network contains a module that must stay in the flow's dtype (IFloat32Only says why).
    private static bool AcceptsBFloat16(CouplingLayer coupling) =>
        !SelfAndDescendants(coupling.Conditioner).OfType<IFloat32Only>().Any();

    private static IEnumerable<IFoldableConditioner> Foldables(nn.Module conditioner) =>
        SelfAndDescendants(conditioner).Distinct().OfType<IFoldableConditioner>();

    // An st-network and every module inside it.
    private static IEnumerable<nn.Module> SelfAndDescendants(nn.Module conditioner) => new[] { conditioner }.Concat(conditioner.modules());

    private sealed class Restore(CouplingLayer[] couplings, ScalarType?[] before) : IDisposable
    {
        public void Dispose()
        {
            for (int i = 0; i < couplings.Length; i++)
            {
                couplings[i].ConditionerDtype = before[i];
            }
        }
    }
}
