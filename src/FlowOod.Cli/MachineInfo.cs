using System;
using System.Globalization;
using System.Linq;
using System.Reflection;
using FlowOod.Precision;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>What a result page says about where it was made: CPU model, cores, SIMD flags, torch threads, versions.</summary>
internal sealed record MachineInfo(string CpuModel, int Cores, string SimdFlags, int TorchThreads, string LibraryVersion, string Runtime)
{
    /// <summary>The processor as <see cref="ProcessorInfo"/> reads it (Linux: <c>/proc/cpuinfo</c>; elsewhere "unknown").</summary>
    public static MachineInfo Current()
    {
        var processor = ProcessorInfo.Current;
        var present = ProcessorInfo.SpeedFlags.Where(processor.Flags.Contains).ToArray();
        var flags = processor.Flags.Count == 0 ? "unknown" : present.Length == 0 ? "none" : string.Join(' ', present);
        var version = typeof(NormalizingFlow).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return new MachineInfo(processor.Model, Environment.ProcessorCount, flags, get_num_threads(), plus > 0 ? version[..plus] : version,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }

    /// <summary>One Markdown line per fact.</summary>
    public string Markdown() => string.Create(CultureInfo.InvariantCulture,
        $"- Machine: CPU {CpuModel}, {Cores} logical cores, SIMD flags: {SimdFlags}\n- TorchSharp intra-op threads: {TorchThreads}\n- FlowOod {LibraryVersion} on {Runtime}\n");
}
