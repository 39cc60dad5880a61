using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace FlowOod.Benchmarks;

/// <summary>One eager mode of the PyTorch twin, as it printed it.</summary>
/// <param name="Mode">fp32 (NCHW), fp32-cl (channels_last) or bf16-cl (autocast bf16 + channels_last).</param>
/// <param name="Description">PyTorch's version, the mode, threads and parameter count, as the twin printed them.</param>
/// <param name="TrainImagesPerSecond">Training images/s (Adam, batch 64).</param>
/// <param name="ScoreImagesPerSecond">Scoring images/s (eval, inference mode, the bench's chunk).</param>
public sealed record TwinRates(string Mode, string Description, double TrainImagesPerSecond, double ScoreImagesPerSecond);

/// <summary>One run of the twin: a line per mode, and the ONNX file it exported (null with the reason when none).</summary>
/// <param name="Modes">The modes measured, in the order run.</param>
/// <param name="OnnxPath">The exported fp32 model, or null.</param>
/// <param name="OnnxNote">Why there is no export, or the python used.</param>
public sealed record TwinRun(IReadOnlyList<TwinRates> Modes, string? OnnxPath, string OnnxNote);

/// <summary>
/// Runs <c>benchmarks/reference/realnvp_pytorch.py</c> (the compact RealNVP in PyTorch eager: fp32 NCHW, fp32
/// channels_last, bf16 autocast + channels_last) with the first <c>python3</c> that imports torch, after FlowOod's own
/// measurements and never beside them (two libtorch processes on the same cores slow each other down many times over).
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

    /// <summary>
    /// Runs the twin with <paramref name="threads"/> threads, scoring in chunks of <paramref name="chunk"/>, and parses its
    /// lines; with <paramref name="onnxPath"/> it also exports its fp32 model there. Null with the reason when it cannot run.
    /// </summary>
    public static (TwinRun? Run, string Note) Measure(int threads, int chunk, string? onnxPath)
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

        var arguments = string.Create(CultureInfo.InvariantCulture, $"\"{script}\" 32 2 {threads} {chunk} {(BenchPrecisions.MeasuresBFloat16 ? "fp32,fp32-cl,bf16-cl" : "fp32,fp32-cl")}");
        if (onnxPath is not null)
        {
            arguments += $" \"{onnxPath}\"";
        }

        var (code, output) = Run(python, arguments, TimeSpan.FromMinutes(15));
        var modes = TwinLine().Matches(output).Select(m => new TwinRates(
            m.Groups["mode"].Value,
            m.Groups["what"].Value.Trim(),
            double.Parse(m.Groups["train"].Value, CultureInfo.InvariantCulture),
            double.Parse(m.Groups["score"].Value, CultureInfo.InvariantCulture))).ToArray();
        if (code != 0 || modes.Length == 0)
        {
            return (null, $"the twin exited with {code}: {output.Trim()}");
        }

        var exported = ExportLine().Match(output);
        var failed = ExportFailedLine().Match(output);
        var (path, note) = onnxPath is null ? (null, "not asked")
            : exported.Success && File.Exists(onnxPath) ? (onnxPath, python)
            : (null, failed.Success ? failed.Groups["why"].Value.Trim() : "the twin printed no export line");
        return (new TwinRun(modes, path, note), python);
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

    [GeneratedRegex(@"(?<what>PyTorch \S+ mode (?<mode>\S+)[^:\n]*): train (?<train>[0-9.]+) images/s, score (?<score>[0-9.]+) images/s")]
    private static partial Regex TwinLine();

    [GeneratedRegex(@"PyTorch ONNX export: (?<path>[^\n]+)")]
    private static partial Regex ExportLine();

    [GeneratedRegex(@"PyTorch ONNX export failed: (?<why>[^\n]+)")]
    private static partial Regex ExportFailedLine();
}
