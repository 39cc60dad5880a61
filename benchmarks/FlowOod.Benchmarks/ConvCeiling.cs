using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>One measured convolution: its shape, dtype, seconds per call and achieved GFLOP/s.</summary>
public sealed record ConvMeasurement(string Shape, ScalarType Dtype, bool Backward, double SecondsPerCall, double GflopPerSecond);

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
    /// Times <paramref name="calls"/> calls (after 2 warm-up calls) of the convolution on random data of
    /// <paramref name="dtype"/>; with <paramref name="backward"/>, forward + backward of the sum.
    /// </summary>
    public static ConvMeasurement Measure(long n, long channels, long size, ScalarType dtype, bool backward, int calls)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(calls);
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var x = randn([n, channels, size, size], generator: generator).to(dtype).requires_grad_(backward);
        var weight = randn([channels, channels, 3, 3], generator: generator).mul_(0.05).to(dtype).requires_grad_(backward);
        void Call()
        {
            using var callScope = NewDisposeScope();
            if (backward)
            {
                nn.functional.conv2d(x, weight, padding: [1, 1]).sum().backward();
                x.grad?.zero_();
                weight.grad?.zero_();
            }
            else
            {
                using var noGrad = no_grad();
                nn.functional.conv2d(x, weight, padding: [1, 1]);
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
        var flops = ForwardFlops(n, channels, channels, size, size, 3) * (backward ? 3 : 1);
        return new ConvMeasurement($"[{n},{channels},{size},{size}] 3x3 {channels}->{channels}", dtype, backward, seconds, flops / seconds / 1e9);
    }

    /// <summary>The CPU model and the flags that matter for fp32/bf16 speed, from /proc/cpuinfo ("unknown" elsewhere).</summary>
    public static (string Model, string Flags) Processor()
    {
        const string CpuInfo = "/proc/cpuinfo";
        if (!File.Exists(CpuInfo))
        {
            return ("unknown", "unknown");
        }

        var lines = File.ReadAllLines(CpuInfo);
        string? Value(string key) => lines.Where(l => l.StartsWith(key, StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()).FirstOrDefault();
        var flags = (Value("flags") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        string[] wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"];
        var present = wanted.Where(flags.Contains).ToArray();
        return (Value("model name") ?? "unknown", present.Length == 0 ? "none of " + string.Join(' ', wanted) : string.Join(' ', present));
    }
}
