using System;
using System.Diagnostics;
using System.Text;

namespace FlowOod.Docs.Tests;

/// <summary>Runs the dotnet host (the SDK this test runs under) and collects its output.</summary>
internal static class DotnetProcess
{
    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="directory"/>.</summary>
    /// <returns>The exit code and the standard output and error, interleaved by line.</returns>
    public static (int ExitCode, string Output) Run(string directory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        // Not the test host's MSBuild settings: the child is a user's build.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        // Nor the crash-dump request of `dotnet test --blame-crash`: the child's exit code and output are what a test
        // checks (one run is expected to fail where libtorch cannot load), and a dump of it is 150 MB of nothing.
        start.Environment.Remove("DOTNET_DbgEnableMiniDump");
        start.Environment.Remove("COMPlus_DbgEnableMiniDump");

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish in {timeout}:\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }
}
