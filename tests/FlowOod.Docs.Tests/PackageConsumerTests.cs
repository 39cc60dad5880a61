using System;
using System.IO;
using FlowOod.Build;
using FluentAssertions;
using Xunit;

namespace FlowOod.Docs.Tests;

/// <summary>
/// A user's first project, for real: a fresh console project in a temporary folder references the FlowOod package
/// packed from this build and TorchSharp-cpu, scores a tensor with a tiny flow, then runs the README's first two ways in
/// (a TorchSharp classifier behind a gate; embedding rows behind an EmbeddingDetector), each saved and reloaded. On a system whose
/// libstdc++ lacks GLIBCXX_3.4.32 (Debian 12, Ubuntu 22.04; this repository's build machine) it must fail without
/// <c>FlowOodPatchLibTorchGlibc</c> (libtorch does not load, and the build warns FLOWOOD0001) and run with it; on newer
/// systems it must run either way. Needs the package registry or a NuGet cache holding TorchSharp-cpu 0.107.0.
/// </summary>
public sealed class PackageConsumerTests(ITestOutputHelper output)
{
    // The README's first two ways in ("An OOD check in front of the classifier you already run"), from the packages:
    // a TorchSharp classifier behind a gate, and embedding rows behind an EmbeddingDetector, each saved and reloaded.
    private const string Program = """
        using System;
        using System.Diagnostics;
        using System.Linq;
        using FlowOod;
        using FlowOod.Detection;
        using FlowOod.Embeddings;
        using FlowOod.Gating;
        using FlowOod.Models;
        using FlowOod.Scoring;
        using FlowOod.Training;
        using TorchSharp;
        using static TorchSharp.torch;

        var clock = Stopwatch.StartNew();
        FlowOodRuntime.EnsureAvailable();
        using (var flow = TabularRealNvp.Create(2))
        using (var scorer = new NegativeLogLikelihoodScorer(flow))
        using (var x = torch.randn(4, 2))
        {
            double[] scores = scorer.Score(x);
            Console.WriteLine($"scored {scores.Length} inputs, first {scores[0]:F3}");
        }

        var shortFit = new FeatureSpaceFitOptions { Training = new TrainingOptions { Steps = 60, BatchSize = 32, Seed = 1 } };
        torch.random.manual_seed(1);
        var classifier = nn.Sequential(("flatten", nn.Flatten()), ("embed", nn.Linear(16, 6)), ("relu", nn.ReLU()), ("head", nn.Linear(6, 3)));
        classifier.eval();
        using (var images = torch.rand(300, 1, 4, 4))
        using (var gate = OodGate.Fit(classifier, images, new OodGateOptions { FeatureLayer = "embed", TargetFalsePositiveRate = 0.1, FeatureFlow = shortFit }))
        {
            gate.Save("gate.flowood");
            using var loaded = OodGate.Load("gate.flowood", classifier);
            GateDecision d = loaded.Classify(images)[0];
            bool same = loaded.Classify(images).Select(e => e.PValue).SequenceEqual(gate.Classify(images).Select(e => e.PValue));
            Console.WriteLine($"gate: label {d.Label}, p = {d.PValue:F3}, reloaded identical {same}");
        }

        var random = new Random(1);
        float[][] rows = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        using (var detector = EmbeddingDetector.Fit(rows, new EmbeddingDetectorOptions { TargetFalsePositiveRate = 0.1, FeatureFlow = shortFit }))
        {
            detector.Save("embeddings.flowood");
            using var loaded = EmbeddingDetector.Load("embeddings.flowood");
            OodPrediction near = loaded.PredictOne(rows[0]);
            OodPrediction far = loaded.PredictOne(new float[] { 40f, -40f, 40f, -40f });
            Console.WriteLine($"embeddings: in-distribution row OOD {near.IsOutOfDistribution}, far row OOD {far.IsOutOfDistribution}");
        }

        Console.WriteLine($"checks ran in {clock.Elapsed.TotalSeconds:F1} s");
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(8);

    [Fact]
    public void FreshProject_WithPackedFlowOodAndTorchSharpCpu_RunsWithThePatchProperty()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var work = Directory.CreateTempSubdirectory("flowood-consumer-").FullName;
        var version = $"0.1.0-consumertest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        try
        {
            // The package as ./build.sh pack makes it, with a version of its own so the NuGet cache never serves an
            // older build of it.
            var packages = Path.Combine(work, "packages");
            var pack = DotnetProcess.Run(RepositoryRoot.Path, Timeout, "pack", Path.Combine(RepositoryRoot.Path, "src", "FlowOod", "FlowOod.csproj"),
                "-c", Configuration, "--no-build", "--nologo", "-o", packages, $"-p:Version={version}", "-p:IncludeSymbols=false");
            pack.ExitCode.Should().Be(0, pack.Output);

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
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <!-- The size recipe of docs/getting-started.md: copy the Linux natives only. -->
                    <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                    <SelfContained>false</SelfContained>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="FlowOod" Version="{version}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
            var dll = Path.Combine(app, "bin", "Release", "net10.0", "linux-x64", "App.dll");
            var systemHasVersion = ElfVersionNeeds.SystemLibStdCxxDefines("GLIBCXX_3.4.32");

            // Without the property. On this repository's Debian 12 build machine (no GLIBCXX_3.4.32) the app cannot
            // load libtorch, and the build says why; on a newer system it simply runs.
            var plain = DotnetProcess.Run(app, Timeout, "build", "-c", "Release", "--nologo");
            plain.ExitCode.Should().Be(0, plain.Output);
            var plainRun = DotnetProcess.Run(app, Timeout, dll);
            if (systemHasVersion)
            {
                plainRun.ExitCode.Should().Be(0, plainRun.Output);
            }
            else
            {
                plain.Output.Should().Contain("FLOWOOD0001");
                plainRun.ExitCode.Should().NotBe(0, "libtorch cannot load without the patch on this system");
                plainRun.Output.Should().Contain("GLIBCXX_3.4.32", "FlowOodRuntime.EnsureAvailable names the real cause");
            }

            // With the property: runs everywhere.
            var patched = DotnetProcess.Run(app, Timeout, "build", "-c", "Release", "--nologo", "-p:FlowOodPatchLibTorchGlibc=true");
            patched.ExitCode.Should().Be(0, patched.Output);
            patched.Output.Should().NotContain("FLOWOOD0001");
            var run = DotnetProcess.Run(app, Timeout, dll);
            run.ExitCode.Should().Be(0, run.Output);
            run.Output.Should().Contain("scored 4 inputs");
            run.Output.Should().Contain("reloaded identical True");
            run.Output.Should().Contain("far row OOD True");
            output.WriteLine($"From an empty folder to a working check (pack, restore, two builds, runs): {clock.Elapsed.TotalSeconds:F0} s");
            output.WriteLine(run.Output);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
            var cached = Path.Combine(NuGetCache, "flowood", version);
            if (Directory.Exists(cached))
            {
                Directory.Delete(cached, recursive: true);
            }
        }
    }

    // This test's build configuration (bin/<Configuration>/...), which the packed FlowOod was built in.
    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    private static string NuGetCache =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
