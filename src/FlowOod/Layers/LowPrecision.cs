using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// Mixed precision inside FlowOod's layers: a layer whose input is bf16 (or fp16) while its parameters are fp32 (the
/// master weights of a mixed-precision training run) computes with bf16 copies of its parameters, made per call and
/// differentiable, so the gradients reach the fp32 parameters. Every other combination is left to libtorch as it is.
/// </summary>
internal static class LowPrecision
{
    /// <summary>Whether <paramref name="dtype"/> is a 16-bit floating-point type.</summary>
    public static bool IsLow(ScalarType dtype) => dtype is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>Whether <paramref name="parameter"/> must be cast to <paramref name="input"/>'s dtype for this call.</summary>
    public static bool NeedsCast(Tensor? parameter, Tensor input) =>
        parameter is not null && parameter.dtype != input.dtype && IsLow(input.dtype) && parameter.dtype == ScalarType.Float32;

    /// <summary>
    /// <paramref name="parameter"/> itself, or its cast to <paramref name="input"/>'s dtype when <see cref="NeedsCast"/>
    /// (a new tensor: call inside a dispose scope).
    /// </summary>
    [return: NotNullIfNotNull(nameof(parameter))]
    public static Tensor? Match(Tensor? parameter, Tensor input) => NeedsCast(parameter, input) ? parameter!.to(input.dtype) : parameter;

    /// <summary>
    /// Converts <paramref name="module"/>'s parameters to <paramref name="dtype"/> in place, its 4-D (convolution)
    /// parameters on the CPU to channels-last (<see cref="ConvLayout"/>): for a module nobody else holds yet (a private
    /// inference copy).
    /// </summary>
    public static void ConvertForInference(nn.Module module, ScalarType dtype)
    {
        module.to(dtype);
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            if (ConvLayout.NeedsCopy(parameter))
            {
                // set_ hands back another managed wrapper of the parameter; the scope frees that wrapper and the copy's.
                using var scope = NewDisposeScope();
                parameter.set_(ConvLayout.ChannelsLast(parameter));
            }
        }
    }
}
