using System;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// The element-wise step of an <see cref="AffineCoupling"/> on images — s = a(ŝ), y = (x + t)·exp(s) on the transformed
/// entries (x = y·exp(−s) − t inverse), the others copied, LogDet = ±Σ s — in managed code, for a few float32 CPU
/// images scored without gradients.
/// </summary>
/// <remarks>
/// <para>Why: through libtorch this step is about ten operations (mask, halves, activation, exponential, addition,
/// product, select, sum), each with TorchSharp's fixed cost of a few microseconds, for 784 values of one 28×28 image;
/// scoring one image runs it in every coupling. Here it is one pass over the values and two new tensors.</para>
/// <para>Takes the call only when the input is a contiguous float32 CPU tensor <c>[N, C, H, W]</c> of at most
/// <see cref="MaxElements"/> values, the st-network output a dense float32 CPU tensor <c>[N, 2·Ct, H, W]</c> (contiguous
/// or channels-last), the activation has a managed form (<see cref="ScaleActivation.HasHostForm"/>), the masks and the
/// learnable scale are CPU tensors of their expected types and sizes, and gradients are off; otherwise the caller runs
/// libtorch. Arithmetic in float32 as libtorch's, element by element (its exp and tanh may differ by an ulp); Σ s in
/// float64, rounded to float32 once. Masks and the scale are read from their tensors on every call.</para>
/// </remarks>
internal static class HostAffineCoupling
{
    /// <summary>The most input values computed here (16 images of 64×64; larger batches amortise libtorch's costs).</summary>
    public const long MaxElements = 1 << 16;

    /// <summary>
    /// The output and LogDet <c>[N]</c> of the coupling step, or null when the tensors are not ones this path takes.
    /// </summary>
    /// <param name="input">x (forward) or y (inverse), <c>[N, C, H, W]</c>.</param>
    /// <param name="conditionerOutput">[ŝ, t] along the channels, <c>[N, 2·Ct, H, W]</c>.</param>
    /// <param name="transformMask">For a spatial mask: the transform mask, bool <c>[C, H, W]</c> (Ct = C); else null.</param>
    /// <param name="transformChannels">For a channel-structured mask: the Ct transformed channels, int64; else null.</param>
    /// <param name="activation">a.</param>
    /// <param name="learnableScale">σ, <c>[Ct, 1, 1]</c>, when <paramref name="activation"/> uses one; else null.</param>
    /// <param name="inverse">Whether to apply the inverse.</param>
    public static (Tensor Output, Tensor LogDet)? TryApply(
        Tensor input, Tensor conditionerOutput, Tensor? transformMask, Tensor? transformChannels, ScaleActivation activation,
        Tensor? learnableScale, bool inverse)
    {
        if (is_grad_enabled() || !activation.HasHostForm || !IsDense(input, contiguous: true) || input.numel() > MaxElements
            || !IsDense(conditionerOutput, contiguous: false))
        {
            return null;
        }

        long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
        long ct = transformChannels?.numel() ?? c;
        if (conditionerOutput.size(0) != n || conditionerOutput.size(1) != 2 * ct || conditionerOutput.size(2) != h || conditionerOutput.size(3) != w
            || (transformMask is not null && !IsHost(transformMask, ScalarType.Bool, c * h * w))
            || (transformChannels is not null && !IsHost(transformChannels, ScalarType.Int64, ct))
            || (transformMask is null) == (transformChannels is null)
            || (activation.UsesLearnableScale && (learnableScale is null || !IsHost(learnableScale, ScalarType.Float32, ct))))
        {
            return null;
        }

        var channels = transformChannels is null ? default : MemoryMarshal.Cast<byte, long>(transformChannels.bytes);
        foreach (var channel in channels)
        {
            if ((ulong)channel >= (ulong)c)
            {
                return null;
            }
        }

        var output = empty([n, c, h, w], ScalarType.Float32);
        var logDet = empty([n], ScalarType.Float32);
        var from = MemoryMarshal.Cast<byte, float>(input.bytes);
        var to = MemoryMarshal.Cast<byte, float>(output.bytes);
        // A channels-last tensor is the contiguous [N, H, W, 2·Ct] view permuted: its values are read through that view
        // (TorchSharp gives the bytes of contiguous tensors only) at the strides of the original.
        using var permuted = conditionerOutput.is_contiguous() ? null : conditionerOutput.permute(0, 2, 3, 1);
        var maps = MemoryMarshal.Cast<byte, float>((permuted ?? conditionerOutput).bytes);
        var sums = MemoryMarshal.Cast<byte, float>(logDet.bytes);
        var mask = transformMask is null ? default : MemoryMarshal.Cast<byte, bool>(transformMask.bytes);
        var scales = activation.UsesLearnableScale ? MemoryMarshal.Cast<byte, float>(learnableScale!.bytes) : default;
        var strides = (N: conditionerOutput.stride(0), C: conditionerOutput.stride(1), H: conditionerOutput.stride(2), W: conditionerOutput.stride(3));
        from.CopyTo(to);
        long plane = h * w;
        for (long example = 0; example < n; example++)
        {
            double sum = 0;
            for (long k = 0; k < ct; k++)
            {
                long channel = channels.IsEmpty ? k : channels[(int)k];
                float sigma = scales.IsEmpty ? 1f : scales[(int)k];
                long at = ((example * c) + channel) * plane;
                long raw = (example * strides.N) + (k * strides.C), shift = raw + (ct * strides.C);
                for (long y = 0; y < h; y++)
                {
                    for (long x = 0; x < w; x++)
                    {
                        long p = (y * w) + x;
                        if (!mask.IsEmpty && !mask[(int)((channel * plane) + p)])
                        {
                            continue;
                        }

                        long q = (y * strides.H) + (x * strides.W);
                        float s = activation.HostLogScale(maps[(int)(raw + q)], sigma);
                        float t = maps[(int)(shift + q)];
                        float value = from[(int)(at + p)];
                        to[(int)(at + p)] = inverse ? (value * MathF.Exp(-s)) - t : (value + t) * MathF.Exp(s);
                        sum += s;
                    }
                }
            }

            sums[(int)example] = (float)(inverse ? -sum : sum);
        }

        // The spans are views of native memory that nothing else keeps: a caller outside any dispose scope may hold no
        // other reference to these tensors, and a finalizer must not free them while they are read.
        GC.KeepAlive(input);
        GC.KeepAlive(conditionerOutput);
        GC.KeepAlive(transformMask);
        GC.KeepAlive(transformChannels);
        GC.KeepAlive(learnableScale);
        return (output, logDet);
    }

    // A float32 CPU tensor [N, C, H, W] whose values fill its storage span: contiguous, or (when allowed) channels-last.
    private static bool IsDense(Tensor tensor, bool contiguous) =>
        tensor.dtype == ScalarType.Float32 && tensor.device_type == DeviceType.CPU && tensor.Dimensions == 4 && !tensor.requires_grad
        && (tensor.is_contiguous() || (!contiguous && Layers.ConvLayout.IsChannelsLast(tensor)));

    private static bool IsHost(Tensor tensor, ScalarType dtype, long count) =>
        tensor.dtype == dtype && tensor.device_type == DeviceType.CPU && tensor.is_contiguous() && tensor.numel() == count;
}
