using System;
using System.Diagnostics;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>A k×k, stride-1, same-padding convolution C_in → C_out on a batch [N, C_in, H, W].</summary>
public sealed record ConvShape(long N, long CIn, long COut, long H, long W, long K)
{
    /// <summary>FLOPs of one forward call: 2·N·C_out·H·W·C_in·k² (multiply and add).</summary>
    public double ForwardFlops => ConvCeiling.ForwardFlops(N, CIn, COut, H, W, K);

    /// <inheritdoc/>
    public override string ToString() => $"[{N},{CIn},{H},{W}] {K}x{K} {CIn}->{COut}";
}

/// <summary>One measured convolution: its shape, dtype, seconds per call, achieved GFLOP/s and layout.</summary>
public sealed record ConvMeasurement(string Shape, ScalarType Dtype, bool Backward, double SecondsPerCall, double GflopPerSecond, bool ChannelsLast = false);

/// <summary>
/// The machine's convolution ceiling at a model's shapes, in fp32 and bf16, measured in this process: a 3×3, stride 1,
/// same-padding convolution of [N, C, H, W] to C channels. FLOPs counted as 2·N·C_out·H·W·C_in·k² per forward call
/// (multiply and add), three times that for forward + backward (input and weight gradients).
/// </summary>
public static class ConvCeiling
{
    /// <summary>FLOPs of one forward call of a k×k, stride-1, same-padding convolution C_in → C_out on N×H×W.</summary>
    public static double ForwardFlops(long n, long cIn, long cOut, long h, long w, long k) => 2.0 * n * cOut * h * w * cIn * k * k;

    /// <summary>
    /// Times <paramref name="calls"/> calls (after 2 warm-up calls) of a 3×3 <paramref name="channels"/> →
    /// <paramref name="channels"/> convolution on [n, channels, size, size]; see <see cref="Measure(ConvShape, ScalarType, bool, int)"/>.
    /// </summary>
    public static ConvMeasurement Measure(long n, long channels, long size, ScalarType dtype, bool backward, int calls) =>
        Measure(new ConvShape(n, channels, channels, size, size, 3), dtype, backward, calls);

    /// <summary>
    /// Times <paramref name="calls"/> calls (after 2 warm-up calls) of the convolution on random data of
    /// <paramref name="dtype"/>; with <paramref name="backward"/>, forward + backward of the sum; with
    /// <paramref name="channelsLast"/>, input and weight laid out channels-last (as FlowOod's CPU convolutions run).
    /// </summary>
    public static ConvMeasurement Measure(ConvShape shape, ScalarType dtype, bool backward, int calls, bool channelsLast = false)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(calls);
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var x = randn([shape.N, shape.CIn, shape.H, shape.W], generator: generator).to(dtype).requires_grad_(backward);
        var weight = randn([shape.COut, shape.CIn, shape.K, shape.K], generator: generator).mul_(0.05).to(dtype).requires_grad_(backward);
        if (channelsLast)
        {
            x = x.detach().permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).requires_grad_(backward);
            weight = weight.detach().permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).requires_grad_(backward);
        }

        var padding = new[] { shape.K / 2, shape.K / 2 };
        void Call()
        {
            using var callScope = NewDisposeScope();
            if (backward)
            {
                nn.functional.conv2d(x, weight, padding: padding).sum().backward();
                x.grad?.zero_();
                weight.grad?.zero_();
            }
            else
            {
                using var noGrad = no_grad();
                nn.functional.conv2d(x, weight, padding: padding);
            }
        }

        Call();
        Call();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++)
        {
            Call();
        }

        var seconds = clock.Elapsed.TotalSeconds / calls;
        var flops = shape.ForwardFlops * (backward ? 3 : 1);
        return new ConvMeasurement(shape.ToString(), dtype, backward, seconds, flops / seconds / 1e9, channelsLast);
    }
}
