using System;
using System.IO;
using System.Linq;

namespace FlowOod.Benchmarks;

/// <summary>
/// The process's peak resident set size over a phase: Linux's high-water mark (VmHWM in <c>/proc/self/status</c>),
/// reset at the start of the phase by writing 5 to <c>/proc/self/clear_refs</c>. Null where either is unavailable.
/// </summary>
internal static class PeakMemory
{
    /// <summary>Starts a phase: resets the high-water mark to the current RSS (no-op where unsupported).</summary>
    public static void Reset()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
            // Not Linux, or a kernel without the reset: the peak then covers the whole process so far.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    /// <summary>The peak RSS since the last <see cref="Reset"/>, in MiB, or null off Linux.</summary>
    public static double? PeakMiB()
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return null;
        }

        var line = File.ReadLines(Status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var kib = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
        return long.TryParse(kib, out var value) ? value / 1024.0 : null;
    }

    /// <summary>"412 MiB", or "n/a".</summary>
    public static string Format(double? mib) => mib is { } m ? $"{m:F0} MiB" : "n/a";
}
