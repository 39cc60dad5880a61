using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using FlowOod.Build;
using FlowOod.Tests.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Runtime;

// Runs the flowood tool's check-runtime verb in a copy of its output folder whose libLibTorchSharp.so is the original from the
// NuGet cache, i.e. without the build step's weak-version edit. On a system whose libstdc++ lacks GLIBCXX_3.4.32
// (Debian 12) TorchSharp cannot load it and FlowOod must say why; elsewhere it loads.
public sealed class NativeLoadTests
{
    private const string Version = "GLIBCXX_3.4.32";

    [Fact]
    public void EnsureAvailable_UnpatchedLibraryOnOldLibStdCxx_ThrowsExceptionNamingTheRealCause()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            return; // The weak-version edit and this failure mode exist on Linux x64 only.
        }

        var toolOutput = ToolOutputFolder();
        var original = OriginalLibrary();
        using var folder = new TempFolder();
        foreach (var file in Directory.EnumerateFiles(toolOutput))
        {
            // Managed files are copied (the runtime resolves a symlinked assembly to its real folder and would load the
            // patched library beside it); the large native libraries are linked, except the one under test.
            var name = Path.GetFileName(file);
            var target = Path.Combine(folder.Path, name);
            if (name == "libLibTorchSharp.so")
            {
                File.Copy(original, target);
            }
            else if (name.Contains(".so", StringComparison.Ordinal))
            {
                File.CreateSymbolicLink(target, file);
            }
            else
            {
                File.Copy(file, target);
            }
        }

        var (exitCode, output) = Run(Path.Combine(folder.Path, "FlowOod.Cli.dll"), "check-runtime");

        if (ElfVersionNeeds.SystemLibStdCxxDefines(Version))
        {
            exitCode.Should().Be(0, output);
            output.Should().Contain("TorchSharp runtime OK");
        }
        else
        {
            exitCode.Should().Be(1, output);
            output.Should().Contain(Version).And.Contain("misleading").And.Contain("ldd");
        }
    }

    [Fact]
    public void EnsureAvailable_BuildOutput_Loads()
    {
        var (exitCode, output) = Run(Path.Combine(ToolOutputFolder(), "FlowOod.Cli.dll"), "check-runtime");

        exitCode.Should().Be(0, output);
        output.Should().Contain("TorchSharp runtime OK");
    }

    internal static (int ExitCode, string Output) Run(string assembly, string arguments)
    {
        var start = new ProcessStartInfo("dotnet", $"\"{assembly}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"flowood {arguments} did not finish within 2 minutes.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    internal static string ToolOutputFolder()
    {
        // tests/FlowOod.Tests/bin/<Configuration>/net10.0/<rid>/ → src/FlowOod.Cli/bin/<same>/
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var relative = Path.GetRelativePath(Path.Combine(RepositoryRoot(), "tests", "FlowOod.Tests"), testOutput.FullName);
        var folder = Path.Combine(RepositoryRoot(), "src", "FlowOod.Cli", relative);
        File.Exists(Path.Combine(folder, "FlowOod.Cli.dll")).Should().BeTrue($"the flowood tool is built into {folder}");
        return folder;
    }

    private static string OriginalLibrary()
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        File.Exists(path).Should().BeTrue($"TorchSharp's package is restored at {path}");
        return path;
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "FlowOod.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("FlowOod.sln not found above the test output.");
    }
}
