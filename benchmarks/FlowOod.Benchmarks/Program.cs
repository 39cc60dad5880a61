using System;
using System.Linq;
using BenchmarkDotNet.Running;

namespace FlowOod.Benchmarks;

/// <summary>
/// Entry point. <c>throughput [trainSteps] [scoreImages] [threads] [rounds] [latencyCalls]</c> prints training and scoring
/// images/s of FlowOod's image flows in fp32 and bf16, then the compact RealNVP beside its peers and single-image latency
/// (<see cref="Throughput"/>, <see cref="Peers"/>, <see cref="Latency"/>); <c>peers [rounds] [trainSteps] [scoreImages]
/// [threads] [latencyCalls]</c> only the peers and the latency; <c>long-run [steps] [fp32|bf16] [interval] [batch]</c> one
/// long training run's throughput over time (<see cref="LongRun"/>); <c>fused [rounds] [images] [threads] [latencyCalls]</c>
/// the folded against the unfolded inference copy, images/s and single-image latency (<see cref="FusedScoring"/>); <c>host-conv
/// [rounds] [calls]</c> one image's 3×3 convolution, libtorch against the managed kernel (<see cref="HostConvBench"/>); <c>soak [callsPerPhase] [threads,threads...] [collectorPauseMs]</c> the
/// production-correctness soak (<see cref="Soak"/>; exit code 1 on any exception, mismatch or leak); anything else goes to
/// BenchmarkDotNet's switcher.
/// </summary>
internal static class Program
{
    /// <summary>Whether glibc keeps freed memory in this run (<see cref="FlowOodRuntime.RetainFreedMemory"/>).</summary>
    public static bool RetainedMemory { get; private set; }

    /// <summary>The allocator setting, for the cpu line printed with every figure.</summary>
    public static string MallocNote => RetainedMemory ? "malloc: glibc keeps freed memory (FlowOodRuntime.RetainFreedMemory)" : "malloc: default";

    public static int Main(string[] args)
    {
        // Process-wide, before the first tensor: no "Could not initialize NNPACK!" line per small convolution on processors
        // NNPACK does not know. (BenchmarkDotNet's own runs happen in child processes it generates, which start elsewhere.)
        FlowOodRuntime.DisableNnpack();
        // As FlowOod's own tools run (and as getting-started §9 advises): glibc keeps freed memory for reuse. Every cpu line
        // says so (MallocNote).
        RetainedMemory = FlowOodRuntime.RetainFreedMemory();
        if (args.Length > 0 && args[0] == "throughput")
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            return Throughput.Run(Arg(1, 30), Arg(2, 2048), Arg(3, 0), Arg(4, 3), Arg(5, 200));
        }

        if (args.Length > 0 && args[0] == "peers")
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            return Throughput.RunPeers(Arg(1, 3), Arg(2, 30), Arg(3, 2048), Arg(4, 0), Arg(5, 200));
        }

        if (args.Length > 0 && args[0] == "host-conv")
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            HostConvBench.Run(Arg(1, 5), Arg(2, 1000));
            return 0;
        }

        if (args.Length > 0 && args[0] == "fused")
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            return FusedScoring.Run(Arg(1, 5), Arg(2, 1024), Arg(3, 0), Arg(4, 200));
        }

        if (args.Length > 0 && args[0] == "long-run")
        {
            var precision = args.Length > 2 && args[2] is "bf16" or "BFloat16" ? FlowOod.Precision.ComputePrecision.BFloat16 : FlowOod.Precision.ComputePrecision.Float32;
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            return LongRun.Run(Arg(1, 3000), precision, Arg(3, 100), Arg(4, 64));
        }

        if (args.Length > 0 && args[0] == "soak")
        {
            var calls = args.Length > 1 ? long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 500_000;
            var threads = (args.Length > 2 ? args[2] : "1,8").Split(',').Select(t => int.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var pause = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 0;
            var phases = Soak.Run(calls, threads, Console.WriteLine, collectorPauseMilliseconds: pause);
            return phases.All(p => p.Exceptions + p.Mismatches + p.LeakedTensors == 0) ? 0 : 1;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
