using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.RegularExpressions;

namespace FlowOod.Benchmarks;

/// <summary>What the PyTorch twin printed: its version line and its two rates.</summary>
/// <param name="Description">PyTorch's version, threads and parameter count, as the twin printed them.</param>
/// <param name="TrainImagesPerSecond">Training images/s (Adam, batch 64).</param>
/// <param name="ScoreImagesPerSecond">Scoring images/s (eval, inference mode, batch 64).</param>
public sealed record TwinRates(string Description, double TrainImagesPerSecond, double ScoreImagesPerSecond);

/// <summary>
/// Runs <c>benchmarks/reference/realnvp_pytorch.py</c> (the compact RealNVP in PyTorch eager, fp32) with the first
/// <c>python3</c> that imports torch, after FlowOod's own measurements and never beside them (two libtorch processes on
/// the same cores slow each other down many times over).
/// </summary>
public static partial class PyTorchTwin
{
    /// <summary>The twin's script, found upwards from the benchmark's folder, or null.</summary>
    public static string? Script()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "benchmarks", "reference", "realnvp_pytorch.py");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A python3 that imports torch (Debian's <c>/usr/bin/python3</c> with <c>python3-torch</c> first), or null.</summary>
    public static string? Python()
    {
        foreach (var candidate in new[] { "/usr/bin/python3", "python3" })
        {
            var (code, _) = Run(candidate, "-c \"import torch\"", TimeSpan.FromSeconds(60));
            if (code == 0)
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs the twin with <paramref name="threads"/> threads and parses its line; null with the reason when it cannot.</summary>
    public static (TwinRates? Rates, string Note) Measure(int threads)
    {
        var script = Script();
        if (script is null)
        {
            return (null, "benchmarks/reference/realnvp_pytorch.py not found");
        }

        var python = Python();
        if (python is null)
        {
            return (null, "no python3 with torch here (Debian: apt-get install python3-torch)");
        }

        var (code, output) = Run(python, $"\"{script}\" 32 2 {threads}", TimeSpan.FromMinutes(15));
        var match = TwinLine().Match(output);
        if (code != 0 || !match.Success)
        {
            return (null, $"the twin exited with {code}: {output.Trim()}");
        }

        return (new TwinRates(
            match.Groups["what"].Value.Trim(),
            double.Parse(match.Groups["train"].Value, CultureInfo.InvariantCulture),
            double.Parse(match.Groups["score"].Value, CultureInfo.InvariantCulture)), python);
    }

    private static (int Code, string Output) Run(string file, string arguments, TimeSpan timeout)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return (-1, string.Empty);
            }

            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return (-1, "timed out");
            }

            return (process.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (-1, $"{file} not found");
        }
    }

    [GeneratedRegex(@"(?<what>PyTorch [^:]*): train (?<train>[0-9.]+) images/s, score (?<score>[0-9.]+) images/s")]
    private static partial Regex TwinLine();
}
