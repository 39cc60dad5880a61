using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Globalization;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using FluentAssertions;

namespace FlowOod.GateService.Tests;

// The sample as `./build.sh serve` runs it: its own process (`dotnet FlowOod.Samples.GateService.dll ...`), its own
// appsettings.json, every stdout/stderr line kept. Disposing kills it if it is still running.
public sealed partial class ServiceProcess : IDisposable
{
    private readonly Process process;
    private readonly Channel<string> lines = Channel.CreateUnbounded<string>();
    private readonly List<string> all = [];

    private ServiceProcess(Process process) => this.process = process;

    public int Id => process.Id;

    // Every line so far ("stderr: " marks standard error).
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (all)
            {
                return [.. all];
            }
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex Listening();

    // The sample's own build output, next to this test project's (same configuration, framework and runtime folders),
    // or FLOWOOD_GATE_SERVICE_DLL.
    public static string SampleAssembly()
    {
        // A manual run can point the process tests at another build of the sample (e.g. an older one, to see a test fail).
        if (Environment.GetEnvironmentVariable("FLOWOOD_GATE_SERVICE_DLL") is { Length: > 0 } other)
        {
            return other;
        }

        var ours = AppContext.BaseDirectory;
        var marker = Path.Combine("tests", "FlowOod.GateService.Tests") + Path.DirectorySeparatorChar;
        int at = ours.LastIndexOf(marker, StringComparison.Ordinal);
        at.Should().BeGreaterThan(0, $"the tests run from their build output ({ours})");
        var folder = ours[..at] + Path.Combine("samples", "FlowOod.Samples.GateService") + Path.DirectorySeparatorChar + ours[(at + marker.Length)..];
        var dll = Path.Combine(folder, "FlowOod.Samples.GateService.dll");
        File.Exists(dll).Should().BeTrue($"the solution build puts the sample at {dll}");
        return dll;
    }

    public static ServiceProcess Start(string models, params string[] extra)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var arg in (string[])[SampleAssembly(), "--urls", "http://127.0.0.1:0", "--models", models, "--threads", "1", .. extra])
        {
            start.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = start };
        var service = new ServiceProcess(process);
        process.OutputDataReceived += (_, e) => service.Add(e.Data, string.Empty);
        process.ErrorDataReceived += (_, e) => service.Add(e.Data, "stderr: ");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    // The next line matching pattern (lines before it are consumed), or an OperationCanceledException at the timeout.
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        while (true)
        {
            var line = await lines.Reader.ReadAsync(cancel.Token);
            if (pattern.Match(line) is { Success: true } match)
            {
                return match;
            }
        }
    }

    public async Task<Uri> WaitUntilListeningAsync() => new((await WaitForAsync(Listening(), TimeSpan.FromSeconds(120))).Groups[1].Value);

    // SIGTERM, as an orchestrator stops a container (sent by kill(1): no unsafe code for a P/Invoke).
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
        kill.ExitCode.Should().Be(0, "the service process is still running");
    }

    // The exit code, or null when the process has not exited within the timeout.
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
            process.WaitForExit(); // the output pumps are drained
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process.Dispose();
    }

    private void Add(string? line, string prefix)
    {
        if (line is null)
        {
            return;
        }

        lock (all)
        {
            all.Add(prefix + line);
        }

        lines.Writer.TryWrite(prefix + line);
    }
}
