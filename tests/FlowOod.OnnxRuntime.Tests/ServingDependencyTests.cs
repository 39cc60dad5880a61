using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// FlowOod.OnnxRuntime.Serving must serve without libtorch: its resolved dependencies (obj/project.assets.json, written
/// by the restore that built these tests) and its compiled references name neither TorchSharp, libtorch nor FlowOod.
/// </summary>
public sealed class ServingDependencyTests
{
    private static readonly string[] Forbidden = ["torchsharp", "libtorch", "flowood"];

    [Fact]
    public void ServingPackage_ResolvedDependencies_HaveNoTorchSharpOrLibtorch()
    {
        var assets = Path.Combine(RepositoryRoot(), "src", "FlowOod.OnnxRuntime.Serving", "obj", "project.assets.json");
        File.Exists(assets).Should().BeTrue("the build of these tests restores the serving project");
        using var document = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = document.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToArray();
        var targets = document.RootElement.GetProperty("targets").EnumerateObject()
            .SelectMany(t => t.Value.EnumerateObject().Select(p => p.Name)).ToArray();

        libraries.Should().Contain(l => l.StartsWith("Microsoft.ML.OnnxRuntime/", StringComparison.Ordinal), "the scan must see the package's real dependencies");
        libraries.Concat(targets).Where(IsForbidden).Should().BeEmpty("the serving package must not bring TorchSharp, libtorch or FlowOod, directly or transitively");
    }

    [Fact]
    public void ServingAssembly_ReferencesNeitherTorchSharpNorFlowOod()
    {
        var references = typeof(OnnxGate).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();

        references.Should().Contain("Microsoft.ML.OnnxRuntime");
        references.Where(IsForbidden).Should().BeEmpty();
        typeof(OnnxGate).Assembly.GetName().Name.Should().Be("FlowOod.OnnxRuntime.Serving");
    }

    private static bool IsForbidden(string name) =>
        !name.StartsWith("FlowOod.OnnxRuntime.Serving", StringComparison.Ordinal)
        && Forbidden.Any(f => name.Contains(f, StringComparison.OrdinalIgnoreCase));

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "FlowOod.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("FlowOod.sln not found above " + AppContext.BaseDirectory);
    }
}
