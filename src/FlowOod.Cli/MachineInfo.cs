using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>What a result page says about where it was made: CPU model, cores, SIMD flags, torch threads, versions.</summary>
internal sealed record MachineInfo(string CpuModel, int Cores, string SimdFlags, int TorchThreads, string LibraryVersion, string Runtime)
{
    private static readonly string[] InterestingFlags = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"];

    /// <summary>Reads <c>/proc/cpuinfo</c> where it exists (Linux); elsewhere says "unknown".</summary>
    public static MachineInfo Current()
    {
        string model = "unknown", flags = "unknown";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var lines = File.ReadAllLines("/proc/cpuinfo");
                model = Value(lines, "model name") ?? model;
                if (Value(lines, "flags") is { } all)
                {
                    var present = all.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
                    flags = string.Join(' ', InterestingFlags.Where(present.Contains));
                }
            }
        }
        catch (IOException)
        {
            // Leave "unknown".
        }
        catch (UnauthorizedAccessException)
        {
            // Leave "unknown".
        }

        var version = typeof(NormalizingFlow).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return new MachineInfo(model, Environment.ProcessorCount, flags, get_num_threads(), plus > 0 ? version[..plus] : version,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }

    /// <summary>One Markdown line per fact.</summary>
    public string Markdown() => string.Create(CultureInfo.InvariantCulture,
        $"- Machine: CPU {CpuModel}, {Cores} logical cores, SIMD flags: {SimdFlags}\n- TorchSharp intra-op threads: {TorchThreads}\n- FlowOod {LibraryVersion} on {Runtime}\n");

    private static string? Value(string[] lines, string key) => lines
        .Where(l => l.StartsWith(key, StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal))
        .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
        .FirstOrDefault();
}
