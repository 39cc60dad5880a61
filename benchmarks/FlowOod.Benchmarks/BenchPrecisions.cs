using System;
using System.Collections.Generic;
using FlowOod.Precision;

namespace FlowOod.Benchmarks;

/// <summary>
/// The precisions every bench measures on this processor: fp32 always; bf16 where the CPU computes it natively
/// (<see cref="ProcessorInfo.HasNativeBFloat16"/>), or anywhere when the environment variable <c>FLOWOOD_BENCH_BF16=1</c>
/// asks for it; never with <c>FLOWOOD_BENCH_BF16=0</c> (a run with libtorch held to AVX2, which emulates bf16 even where
/// the processor lists it).
/// </summary>
/// <remarks>
/// Without native bf16, libtorch emulates it: on a 2-core AMD EPYC of family 25 (avx2 fma, no avx512) the compact
/// RealNVP's bf16 inference copy scored 16 images/s against fp32's 261, so bf16 rows would take most of a run's time to
/// measure a precision that <see cref="ComputePrecision.Auto"/> never chooses there.
/// </remarks>
internal static class BenchPrecisions
{
    /// <summary>The environment variable that makes the bench measure bf16 on a CPU without native bf16 (1) or leave it out (0).</summary>
    public const string ForceVariable = "FLOWOOD_BENCH_BF16";

    /// <summary>Whether bf16 rows are measured in this run (read once: the processor and the environment do not change).</summary>
    public static bool MeasuresBFloat16 { get; } = Environment.GetEnvironmentVariable(ForceVariable) switch
    {
        "1" => true,
        "0" => false,
        _ => ProcessorInfo.Current.HasNativeBFloat16,
    };

    /// <summary>fp32, then bf16 when <see cref="MeasuresBFloat16"/>.</summary>
    public static IReadOnlyList<ComputePrecision> Measured { get; } =
        MeasuresBFloat16 ? [ComputePrecision.Float32, ComputePrecision.BFloat16] : [ComputePrecision.Float32];

    /// <summary>When bf16 is left out, prints why, after <paramref name="prefix"/> (the bench's line prefix).</summary>
    public static void PrintSkipNote(string prefix)
    {
        if (!MeasuresBFloat16 && ProcessorInfo.Current.HasNativeBFloat16)
        {
            Console.WriteLine($"{prefix}bf16: not measured: {ForceVariable}=0 leaves it out");
        }
        else if (!MeasuresBFloat16)
        {
            Console.WriteLine(
                $"{prefix}bf16: not measured: this CPU has no native bf16 (avx512_bf16 or amx_bf16), where libtorch emulates it many times "
                + $"slower than fp32 and ComputePrecision.Auto chooses fp32; {ForceVariable}=1 measures it anyway");
        }
    }
}
