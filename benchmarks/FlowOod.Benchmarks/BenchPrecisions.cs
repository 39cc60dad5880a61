using System;
using System.Collections.Generic;
using FlowOod.Precision;

namespace FlowOod.Benchmarks;

/// <summary>
/// The precisions the bench measures on this processor: fp32 always; bf16 where the CPU computes it natively
/// (<see cref="ProcessorInfo.HasNativeBFloat16"/>), or anywhere when the environment variable <c>FLOWOOD_BENCH_BF16=1</c>
/// asks for it.
/// </summary>
/// <remarks>
/// Without native bf16, libtorch emulates it: on a 2-core AMD EPYC of family 25 (avx2 fma, no avx512) the compact
/// RealNVP's bf16 inference copy scored 16 images/s against fp32's 261, so bf16 rows would take most of a run's time to
/// measure a precision that <see cref="ComputePrecision.Auto"/> never chooses there.
/// </remarks>
internal static class BenchPrecisions
{
    /// <summary>The environment variable that makes the bench measure bf16 on a CPU without native bf16.</summary>
    public const string ForceVariable = "FLOWOOD_BENCH_BF16";

    /// <summary>Whether bf16 rows are measured in this run.</summary>
    public static bool MeasuresBFloat16 =>
        ProcessorInfo.Current.HasNativeBFloat16 || Environment.GetEnvironmentVariable(ForceVariable) == "1";

    /// <summary>fp32, then bf16 when <see cref="MeasuresBFloat16"/>.</summary>
    public static IReadOnlyList<ComputePrecision> Measured =>
        MeasuresBFloat16 ? [ComputePrecision.Float32, ComputePrecision.BFloat16] : [ComputePrecision.Float32];

    /// <summary>The line a bench prints when it leaves bf16 out, or null when it measures it.</summary>
    public static string? SkipNote => MeasuresBFloat16
        ? null
        : $"bf16: not measured: this CPU has no native bf16 (avx512_bf16 or amx_bf16), where libtorch emulates it many times slower than fp32 and ComputePrecision.Auto chooses fp32; {ForceVariable}=1 measures it anyway";

    /// <summary>Prints <see cref="SkipNote"/> with <paramref name="prefix"/> when bf16 is left out.</summary>
    public static void PrintSkipNote(string prefix)
    {
        if (SkipNote is { } note)
        {
            Console.WriteLine($"{prefix}{note}");
        }
    }
}
