using System;
using System.Globalization;
using System.Text;
using FlowOod.Precision;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// The lines every experiment's Markdown fragment ends with, written in one place: the command, the budget (its sizes
/// and the seed), notes of the experiment's own, the machine (CPU, cores, SIMD flags), TorchSharp's threads, the FlowOod
/// and .NET versions (<see cref="MachineInfo"/>) and the wall time.
/// </summary>
internal static class PageFooter
{
    /// <summary>
    /// The footer of a fragment made with <paramref name="options"/> in <paramref name="elapsed"/>.
    /// <paramref name="budgetText"/> describes the budget's sizes (it names the seed); null: the budget's name and the seed.
    /// </summary>
    public static string Markdown(ExperimentOptions options, TimeSpan elapsed, string? budgetText = null, params string[] notes)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(notes);
        var budget = budgetText is { Length: > 0 }
            ? char.ToUpperInvariant(budgetText[0]) + budgetText[1..]
            : string.Create(CultureInfo.InvariantCulture, $"Budget {options.Budget.ToString().ToLowerInvariant()}, seed {options.Seed}");
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"- Command: `{options.CommandLine}`")
            .AppendLine(CultureInfo.InvariantCulture, $"- {budget}");
        if (options.EffectivePrecision != ComputePrecision.Float32)
        {
            var chosen = ConditionerPrecision.Choose(options.EffectivePrecision);
            text.AppendLine(CultureInfo.InvariantCulture, $"- Training precision: {options.EffectivePrecision} ({(chosen.Precision == ComputePrecision.BFloat16 ? "bf16" : "fp32")} st-networks here: {chosen.Reason})");
        }

        foreach (var note in notes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
        }

        return text.Append(MachineInfo.Current().Markdown())
            .AppendLine(CultureInfo.InvariantCulture, $"- Wall time: {WallTime(elapsed)}")
            .ToString();
    }

    /// <summary>Seconds below ten minutes, minutes from there on.</summary>
    public static string WallTime(TimeSpan elapsed) => elapsed.TotalSeconds < 600
        ? string.Create(CultureInfo.InvariantCulture, $"{elapsed.TotalSeconds:F0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{elapsed.TotalMinutes:F1} min");
}
