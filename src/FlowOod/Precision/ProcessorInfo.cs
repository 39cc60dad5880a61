using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace FlowOod.Precision;

/// <summary>
/// The processor this process runs on, as the operating system describes it: its model name and instruction-set flags
/// (on Linux from <c>/proc/cpuinfo</c>; elsewhere the model from the environment and no flags). Used to decide whether
/// bf16 st-networks pay (<see cref="ConditionerPrecision.Choose"/>) and printed beside every benchmark figure.
/// </summary>
public sealed class ProcessorInfo
{
    /// <summary>The flags that decide fp32 and bf16 speed, in the order they are printed.</summary>
    public static IReadOnlyList<string> SpeedFlags { get; } = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"];

    private static readonly Lazy<ProcessorInfo> CurrentInfo = new(ReadCurrent);

    private ProcessorInfo(string model, IReadOnlySet<string> flags)
    {
        Model = model;
        Flags = flags;
    }

    /// <summary>This machine's processor (read once per process).</summary>
    public static ProcessorInfo Current => CurrentInfo.Value;

    /// <summary>The model name ("unknown" when the system does not say).</summary>
    public string Model { get; }

    /// <summary>Every instruction-set flag the system lists (empty when it lists none, e.g. off Linux).</summary>
    public IReadOnlySet<string> Flags { get; }

    /// <summary>Whether the processor has bf16 dot-product instructions (<c>avx512_bf16</c>, or AMX's <c>amx_bf16</c>),
    /// the ones libtorch's bf16 convolutions and matrix products run on; without them bf16 is emulated and slower than fp32.</summary>
    public bool HasNativeBFloat16 => Flags.Contains("avx512_bf16") || Flags.Contains("amx_bf16");

    /// <summary>Whether the processor has AMX tiles with bf16 (Intel Sapphire Rapids and later).</summary>
    public bool HasAmxBFloat16 => Flags.Contains("amx_tile") && Flags.Contains("amx_bf16");

    /// <summary>The model and the <see cref="SpeedFlags"/> present, for a log line: "AMD EPYC | flags avx2 fma avx512f avx512_bf16".</summary>
    public string Describe()
    {
        var present = SpeedFlags.Where(Flags.Contains).ToArray();
        var flags = Flags.Count == 0 ? "not listed by this system" : present.Length == 0 ? "none of " + string.Join(' ', SpeedFlags) : string.Join(' ', present);
        return $"{Model} | flags {flags}";
    }

    /// <summary>Parses the text of a Linux <c>/proc/cpuinfo</c> (the first processor's entry).</summary>
    /// <param name="cpuInfo">The file's text.</param>
    /// <returns>The model and flags it lists.</returns>
    public static ProcessorInfo Parse(string cpuInfo)
    {
        ArgumentNullException.ThrowIfNull(cpuInfo);
        var lines = cpuInfo.Split('\n');
        string? Value(string key) => lines
            .Where(l => l.StartsWith(key, StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
            .FirstOrDefault();
        var flags = (Value("flags") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        return new ProcessorInfo(Value("model name") is { Length: > 0 } model ? model : "unknown", flags);
    }

    private static ProcessorInfo ReadCurrent()
    {
        const string CpuInfo = "/proc/cpuinfo";
        try
        {
            if (File.Exists(CpuInfo))
            {
                return Parse(File.ReadAllText(CpuInfo));
            }
        }
        catch (IOException)
        {
            // Unreadable: fall through to what the environment says.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }

        var model = Environment.GetEnvironmentVariable("PROCESSOR_IDENTIFIER");
        return new ProcessorInfo(string.IsNullOrWhiteSpace(model) ? "unknown" : model.Trim(), new HashSet<string>(StringComparer.Ordinal));
    }
}
