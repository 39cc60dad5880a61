using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// The memory layout of FlowOod's 2-D convolutions: on the CPU every convolution weight is used channels-last
/// (<c>[C_out, C_in, k, k]</c> indexed as ever, stored C_in-innermost, strides <c>[k·k·C_in, 1, k·C_in, C_in]</c>), so
/// libtorch's oneDNN convolutions run in their preferred layout and their outputs, and what follows them (BatchNorm,
/// ReLU, sums), stay channels-last. The layout moves no value's index; only the order of a convolution's sums changes.
/// </summary>
/// <remarks>
/// Measured on a 2-core AMD EPYC (avx512_bf16), compact RealNVP, A/B in one session: fp32 training ~19% faster,
/// bf16 scoring ~20%, bf16 training 15–25% (docs/performance.md). Parameters keep their own layout (state files and
/// optimisers see the tensors they always saw): fp32 layers use a channels-last copy per call, a few kilobytes made
/// under the call's dispose scope and differentiable; a bf16 inference copy stores its weights channels-last once
/// (<see cref="LowPrecision.ConvertForInference"/>). Other devices keep libtorch's default layout. The layout is also
/// what keeps libtorch's input gradients right on CPUs where its NCHW kernels return wrong ones; trainable layers get it
/// through <see cref="Convolution"/>, which says when.
/// </remarks>
internal static class ConvLayout
{
    // Channels-last order of the dimensions [N, C, H, W], innermost first.
    private static readonly int[] InnermostFirst = [1, 3, 2, 0];

    /// <summary>Whether <paramref name="weight"/> is a CPU convolution weight not yet laid out channels-last.</summary>
    public static bool NeedsCopy(Tensor weight) => weight.dim() == 4 && weight.device_type == DeviceType.CPU && !IsChannelsLast(weight);

    /// <summary><paramref name="weight"/> itself, or (<see cref="NeedsCopy"/>) its channels-last copy: a new tensor, call inside a dispose scope.</summary>
    public static Tensor For(Tensor weight) => NeedsCopy(weight) ? ChannelsLast(weight) : weight;

    /// <summary>A channels-last copy of a 4-D tensor: same shape and values, strides [C·H·W, 1, W·C, C].</summary>
    public static Tensor ChannelsLast(Tensor tensor)
    {
        using var nhwc = tensor.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }

    /// <summary>Whether a 4-D tensor's strides are channels-last (size-1 dimensions may have any stride).</summary>
    /// <remarks>Reads sizes and strides one dimension at a time: TorchSharp's <c>stride()</c> and <c>shape</c> arrays
    /// are built through a callback from native code (about 2 µs each).</remarks>
    public static bool IsChannelsLast(Tensor tensor)
    {
        long expected = 1;
        foreach (var dim in InnermostFirst)
        {
            long size = tensor.size(dim);
            if (size != 1 && tensor.stride(dim) != expected)
            {
                return false;
            }

            expected *= size;
        }

        return true;
    }
}
