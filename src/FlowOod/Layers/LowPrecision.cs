using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// Mixed precision inside FlowOod's layers: a layer whose input is bf16 (or fp16) while its parameters are fp32 (the
/// master weights of a mixed-precision training run) computes with bf16 copies of its parameters, made per call and
/// differentiable, so the gradients reach the fp32 parameters. Every other combination is left to libtorch as it is.
/// </summary>
/// <remarks>
/// 16-bit convolution weights are laid out channels-last ([C_out, C_in, k, k] indexed as ever, stored C_in-innermost):
/// libtorch's oneDNN convolutions then run channels-last, their preferred bf16 layout, and their outputs (and what
/// follows them: BatchNorm, ReLU, sums) stay channels-last. Measured on a 2-core AMD EPYC with avx512_bf16, the compact
/// RealNVP's bf16 scoring ran ~20% faster, bf16 training ~15–25% (docs/performance.md). The layout changes no value's
/// index, only the order of a convolution's sums.
/// </remarks>
internal static class LowPrecision
{
    /// <summary>Whether <paramref name="dtype"/> is a 16-bit floating-point type.</summary>
    public static bool IsLow(ScalarType dtype) => dtype is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>Whether <paramref name="parameter"/> must be cast to <paramref name="input"/>'s dtype for this call.</summary>
    public static bool NeedsCast(Tensor? parameter, Tensor input) =>
        parameter is not null && parameter.dtype != input.dtype && IsLow(input.dtype) && parameter.dtype == ScalarType.Float32;

    /// <summary>
    /// <paramref name="parameter"/> itself, or its cast to <paramref name="input"/>'s dtype when <see cref="NeedsCast"/>
    /// (channels-last when 4-D; a new tensor: call inside a dispose scope).
    /// </summary>
    [return: NotNullIfNotNull(nameof(parameter))]
    public static Tensor? Match(Tensor? parameter, Tensor input)
    {
        if (!NeedsCast(parameter, input))
        {
            return parameter;
        }

        if (parameter!.dim() != 4)
        {
            return parameter.to(input.dtype);
        }

        using var low = parameter.to(input.dtype);
        return ChannelsLast(low);
    }

    /// <summary>A channels-last copy of a 4-D tensor: same shape and values, strides [H·W·C, 1, W·C, C].</summary>
    public static Tensor ChannelsLast(Tensor tensor)
    {
        using var nhwc = tensor.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }

    /// <summary>
    /// Converts <paramref name="module"/>'s parameters to <paramref name="dtype"/> in place, its 4-D (convolution)
    /// parameters to channels-last: for a module nobody else holds yet (a private inference copy).
    /// </summary>
    public static void ConvertForInference(nn.Module module, ScalarType dtype)
    {
        module.to(dtype);
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            if (parameter.dim() == 4)
            {
                // set_ hands back another managed wrapper of the parameter; the scope frees that wrapper and the copy's.
                using var scope = NewDisposeScope();
                parameter.set_(ChannelsLast(parameter));
            }
        }
    }
}
