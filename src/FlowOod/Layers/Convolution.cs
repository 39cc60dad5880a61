using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// The one place FlowOod's trainable layers call libtorch's 2-D convolutions, in a form whose gradients libtorch gets
/// right: weights channels-last (<see cref="ConvLayout"/>), and a single input channel widened to two when the input
/// needs a gradient.
/// </summary>
/// <remarks>
/// <para>Why: on a 2-core AMD EPYC (Zen 5, AVX-512), libtorch 2.10's float32 convolutions (oneDNN 3.7.1) computed the
/// gradient with respect to the input wrong, by up to the gradient's own size and at times as NaN, in two cases: one
/// input channel (in every layout), and the default NCHW layout with an output-channel count not a multiple of 16 (for
/// transposed convolutions: 24 output channels). The forward pass and the weight gradients were right; float64, which
/// libtorch computes without oneDNN, is the reference (ConvolutionGradientTests checks every layer against it on
/// whatever CPU runs the tests). One CI run trained a test flow into NaN through it.</para>
/// <para>The forms used here: channels-last weights, which move libtorch onto oneDNN's channels-last kernels, right
/// in every measured case with two or more input channels; and for one input channel, an appended zero channel (input
/// and weight), so the same kernels run with two; the concatenation's backward drops the zero channel's gradients.
/// Without a gradient (scoring) nothing is widened: the forward pass was right in every layout.</para>
/// </remarks>
internal static class Convolution
{
    private static readonly long[] UnitStride = [1, 1];
    private static readonly long[] NoPadding = [0, 0];

    /// <summary>conv2d(<paramref name="input"/>, <paramref name="weight"/>) + <paramref name="bias"/>: <c>[N, Cin, H, W]</c> → <c>[N, Cout, H', W']</c>, a new tensor.</summary>
    /// <param name="input">x, <c>[N, Cin, H, W]</c>.</param>
    /// <param name="weight">W, <c>[Cout, Cin, kH, kW]</c>, in <paramref name="input"/>'s dtype.</param>
    /// <param name="bias">b, <c>[Cout]</c>, or null.</param>
    /// <param name="stride">The stride (H, W).</param>
    /// <param name="padding">The zero padding (H, W).</param>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding)
    {
        using var scope = NewDisposeScope();
        if (WidensSingleChannel(input, weight))
        {
            input = cat([input, zeros_like(input)], 1);
            weight = cat([weight, zeros_like(weight)], 1);
        }

        return scope.MoveToOuter(nn.functional.conv2d(input, ConvLayout.For(weight), bias, strides: stride, padding: padding));
    }

    /// <summary><see cref="Conv2d(Tensor, Tensor, Tensor?, long[], long[])"/> with stride 1.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] padding) => Conv2d(input, weight, bias, UnitStride, padding);

    /// <summary><see cref="Conv2d(Tensor, Tensor, Tensor?, long[], long[])"/> with stride 1, no padding and no bias (a 1×1 channel mixing).</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight) => Conv2d(input, weight, null, UnitStride, NoPadding);

    /// <summary>conv_transpose2d(<paramref name="input"/>, <paramref name="weight"/>) + <paramref name="bias"/>, a new tensor.</summary>
    /// <param name="input">x, <c>[N, Cin, H, W]</c>.</param>
    /// <param name="weight">W, <c>[Cin, Cout, kH, kW]</c>, in <paramref name="input"/>'s dtype.</param>
    /// <param name="bias">b, <c>[Cout]</c>, or null.</param>
    /// <param name="stride">The stride (H, W).</param>
    /// <param name="outputPadding">The extra rows and columns of the output (H, W), or null for none.</param>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[]? outputPadding)
    {
        using var scope = NewDisposeScope();
        if (WidensSingleChannel(input, weight))
        {
            input = cat([input, zeros_like(input)], 1);
            weight = cat([weight, zeros_like(weight)], 0);
        }

        return scope.MoveToOuter(nn.functional.conv_transpose2d(
            input, ConvLayout.For(weight), bias, strides: stride, output_padding: outputPadding));
    }

    // One input channel, on the CPU, with a gradient to compute for the input.
    private static bool WidensSingleChannel(Tensor input, Tensor weight) =>
        input.requires_grad && input.device_type == DeviceType.CPU && input.dim() == 4 && input.size(1) == 1 && weight.dim() == 4;
}
