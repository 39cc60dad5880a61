using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FlowOod.Build;
using FluentAssertions;
using Xunit;

namespace FlowOod.Docs.Tests;

/// <summary>
/// A user's first project, for real: the README's walkthrough ("An OOD check in front of the classifier you already
/// run") in a fresh web project in a temporary folder that references the FlowOod, FlowOod.AspNetCore and (with its
/// dependency FlowOod.OnnxRuntime.Serving) FlowOod.OnnxRuntime packages packed from this build, and TorchSharp-cpu. The program (ConsumerApp/, copied there)
/// runs one check per process: <c>library</c> (a tiny flow scores a tensor; a TorchSharp classifier → gate and
/// embeddings → EmbeddingDetector, each saved and reloaded), <c>gate-http</c> (the classifier's gate behind
/// AddFlowOodGate/MapFlowOodClassify on Kestrel, /classify and /health), <c>embeddings-http</c> (the detector behind
/// AddFlowOodEmbeddingDetector/MapFlowOodEmbeddings: JSON rows and float32 bytes, /health) and <c>onnx</c> (an ONNX
/// classifier written by this test → gate: fit, save, reload, then behind HTTP). Each answer is checked against the
/// library's own decision for the same input. On a system whose libstdc++ lacks GLIBCXX_3.4.32 (Debian 12, Ubuntu
/// 22.04; this repository's build machine) the app must fail without <c>FlowOodPatchLibTorchGlibc</c> (libtorch does not
/// load, and the build warns FLOWOOD0001) and run with it; on newer systems it must run either way. Needs the package
/// registry or a NuGet cache holding TorchSharp-cpu 0.107.0 and Microsoft.ML.OnnxRuntime.
/// </summary>
public sealed class PackageConsumerTests(ITestOutputHelper output)
{
    // The packages a user adds, as ./build.sh pack makes them.
    private static readonly string[] Packages = ["FlowOod", "FlowOod.AspNetCore", "FlowOod.OnnxRuntime.Serving", "FlowOod.OnnxRuntime"];

    // Each check, its arguments and a line of its output that says it did what the documentation promises.
    private static readonly (string Mode, string[] Arguments, string[] Expected)[] Checks =
    [
        ("library", [], ["scored 4 inputs", "reloaded identical True", "far row OOD True"]),
        ("gate-http", ["--urls", "http://127.0.0.1:0"], ["gate-http: POST /classify (accepted) → 200 {\"label\":", "gate-http: POST /classify (refused) → 422 {\"ood\":true,\"reason\":\"out of distribution", "gate-http: GET /health → 200 {\"status\":\"Healthy\",\"checks\":{\"flowood-gate\":"]),
        ("embeddings-http", ["--urls", "http://127.0.0.1:0"], ["embeddings-http: POST /embeddings {\"embedding\":[...]} → 200 {\"ood\":", "→ 200 {\"alpha\":0.1,\"threshold\":", "float32) → 200, the same answer", "\"checks\":{\"flowood-embeddings\":"]),
        ("onnx", ["--urls", "http://127.0.0.1:0"], ["onnx: gate fitted, saved and reloaded with identical decisions", "onnx: POST /classify (refused) → 422", "onnx: GET /health → 200 {\"status\":\"Healthy\",\"checks\":{\"flowood-gate\":"]),
    ];

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(8);

    [Fact]
    public void FreshProject_WithThePackedPackagesAndTorchSharpCpu_RunsTheReadmeWalkthrough()
    {
        var clock = Stopwatch.StartNew();
        var steps = new List<string>();
        void Step(string what, Stopwatch step) => steps.Add($"{what}: {step.Elapsed.TotalSeconds:F0} s (at {clock.Elapsed.TotalSeconds:F0} s from an empty folder)");
        var work = Directory.CreateTempSubdirectory("flowood-consumer-").FullName;
        var version = $"0.1.0-consumertest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        try
        {
            // The packages as ./build.sh pack makes them, with a version of their own so the NuGet cache never serves
            // an older build of them (each package's dependency on FlowOod gets that version too).
            var step = Stopwatch.StartNew();
            var packages = Path.Combine(work, "packages");
            foreach (var id in Packages)
            {
                var pack = DotnetProcess.Run(RepositoryRoot.Path, Timeout, "pack", Path.Combine(RepositoryRoot.Path, "src", id, $"{id}.csproj"),
                    "-c", Configuration, "--no-build", "--nologo", "-o", packages, $"-p:Version={version}", "-p:IncludeSymbols=false");
                pack.ExitCode.Should().Be(0, pack.Output);
            }

            Step($"pack {string.Join(", ", Packages)}", step);
            var app = CreateProject(work, packages, version);
            var dll = Path.Combine(app, "bin", "Release", "net10.0", "linux-x64", "App.dll");

            // With the property (docs: Debian 12 and Ubuntu 22.04 need it): restores and builds from the empty folder
            // and runs everywhere.
            step.Restart();
            var patched = DotnetProcess.Run(app, Timeout, "build", "-c", "Release", "--nologo", "-p:FlowOodPatchLibTorchGlibc=true");
            patched.ExitCode.Should().Be(0, patched.Output);
            patched.Output.Should().NotContain("FLOWOOD0001");
            Step("restore and build (FlowOodPatchLibTorchGlibc=true)", step);
            foreach (var (mode, arguments, expected) in Checks)
            {
                step.Restart();
                var run = DotnetProcess.Run(app, Timeout, [dll, mode, .. arguments]);
                run.ExitCode.Should().Be(0, $"the walkthrough's {mode} check must pass:\n{run.Output}");
                foreach (var line in expected)
                {
                    run.Output.Should().Contain(line, $"the {mode} check prints it:\n{run.Output}");
                }

                Step($"{mode} check working", step);
                output.WriteLine(run.Output);
            }

            // Without the property. On this repository's Debian 12 build machine (no GLIBCXX_3.4.32) the app cannot
            // load libtorch, and the build says why; on a newer system it simply runs. (Every build copies
            // libLibTorchSharp.so afresh, so the patched copy of the build above does not survive this one.)
            step.Restart();
            var plain = DotnetProcess.Run(app, Timeout, "build", "-c", "Release", "--nologo");
            plain.ExitCode.Should().Be(0, plain.Output);
            var plainRun = DotnetProcess.Run(app, Timeout, dll);
            if (ElfVersionNeeds.SystemLibStdCxxDefines("GLIBCXX_3.4.32"))
            {
                plainRun.ExitCode.Should().Be(0, plainRun.Output);
            }
            else
            {
                plain.Output.Should().Contain("FLOWOOD0001");
                plainRun.ExitCode.Should().NotBe(0, "libtorch cannot load without the patch on this system");
                plainRun.Output.Should().Contain("GLIBCXX_3.4.32", "FlowOodRuntime.EnsureAvailable names the real cause");
            }

            Step("build and run without the property", step);
            output.WriteLine("Wall time, from an empty folder (this machine; the package cache warm):");
            foreach (var line in steps)
            {
                output.WriteLine($"  {line}");
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
            foreach (var id in Packages)
            {
                var cached = Path.Combine(NuGetCache, id.ToLowerInvariant(), version);
                if (Directory.Exists(cached))
                {
                    Directory.Delete(cached, recursive: true);
                }
            }
        }
    }

    // The fresh project: a nuget.config adding the folder of packed packages to the user's sources, a web project
    // referencing the packages, the walkthrough's sources and appsettings.json, and the ONNX classifier beside them.
    private static string CreateProject(string work, string packages, string version)
    {
        var app = Path.Combine(work, "app");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="flowood-local" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <!-- The size recipe of docs/getting-started.md: copy the Linux natives only. -->
                <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                <SelfContained>false</SelfContained>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="FlowOod" Version="{version}" />
                <PackageReference Include="FlowOod.AspNetCore" Version="{version}" />
                <PackageReference Include="FlowOod.OnnxRuntime" Version="{version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryRoot.Path, "tests", "FlowOod.Docs.Tests", "ConsumerApp")))
        {
            File.Copy(file, Path.Combine(app, Path.GetFileName(file)));
        }

        File.WriteAllBytes(Path.Combine(app, "classifier.onnx"), WalkthroughModel.Onnx());
        return app;
    }

    // This test's build configuration (bin/<Configuration>/...), which the packed packages were built in.
    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    private static string NuGetCache =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
