using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace FlowOod.Docs.Tests;

/// <summary>
/// Every ```csharp block of README.md, docs/*.md and src/*/README.md compiles against the FlowOod assemblies this
/// project references (FlowOod, FlowOod.AspNetCore, FlowOod.Testing, FlowOod.OnnxRuntime, TorchSharp, the ASP.NET Core shared framework).
/// New blocks and new files are picked up automatically; the conventions for fragments are in
/// <see cref="MarkdownSnippets"/> and docs/design.md ("Documentation snippets").
/// </summary>
public sealed class DocSnippetsTests
{
    private static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(LoadReferences);

    /// <summary>The Markdown files whose C# blocks are compiled, relative to the repository root.</summary>
    public static TheoryData<string> MarkdownFiles()
    {
        var root = RepositoryRoot.Path;
        var files = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md"))
            .Concat(Directory.GetDirectories(Path.Combine(root, "src")).Select(d => Path.Combine(d, "README.md")).Where(File.Exists))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .OrderBy(f => f, StringComparer.Ordinal);
        var data = new TheoryData<string>();
        foreach (var file in files)
        {
            data.Add(file);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MarkdownFiles))]
    public void Snippets_OfMarkdownFile_Compile(string relativePath)
    {
        var errors = Compile(relativePath);
        errors.Should().BeEmpty($"every C# block of {relativePath} must compile (see MarkdownSnippets for the markers)");
    }

    [Fact]
    public void Snippets_GettingStartedRedeclaresAVariableOfAContinuedBlock_Fails()
    {
        // The convention catches what the old getting-started.md had: §4 repeating §3's `using var images = ...`.
        var markdown = Path.Combine(Path.GetTempPath(), $"flowood-snippet-{Guid.NewGuid():N}.md");
        File.WriteAllText(markdown, """
            ```csharp
            using var images = torch.zeros(2, 1, 28, 28);
            ```
            <!-- snippet: continues -->
            ```csharp
            using var images = torch.zeros(2, 1, 28, 28);
            ```
            """);
        try
        {
            CompileFile(markdown, "test.md").Should().ContainSingle(e => e.Contains("CS0128", StringComparison.Ordinal) && e.StartsWith("test.md(6,", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(markdown);
        }
    }

    [Fact]
    public void Snippets_SeparateBlocks_MayReuseNamesAndSkipPseudoCode()
    {
        var markdown = Path.Combine(Path.GetTempPath(), $"flowood-snippet-{Guid.NewGuid():N}.md");
        File.WriteAllText(markdown, """
            <!-- snippet-context
            NormalizingFlow flow;
            -->
            ```csharp
            using var scorer = new NegativeLogLikelihoodScorer(flow);
            ```
            ```csharp
            using var scorer = new NegativeLogLikelihoodScorer(flow, ownsFlow: false);
            ```
            <!-- snippet: skip pseudo-code -->
            ```csharp
            var x = new MyThing(...);
            ```
            """);
        try
        {
            CompileFile(markdown, "test.md").Should().BeEmpty();
        }
        finally
        {
            File.Delete(markdown);
        }
    }

    private static IReadOnlyList<string> Compile(string relativePath) =>
        CompileFile(Path.Combine(RepositoryRoot.Path, relativePath), relativePath);

    private static IReadOnlyList<string> CompileFile(string path, string displayPath)
    {
        var snippets = MarkdownSnippets.Read(path);
        if (snippets.Blocks.Count == 0)
        {
            return [];
        }

        var references = References.Value;
        var probe = CSharpCompilation.Create("probe", references: references);
        var source = SnippetProgram.Generate(snippets, displayPath, Namespaces(probe.GlobalNamespace));
        var compilation = CSharpCompilation.Create(
            "DocumentationSnippets",
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        return compilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            .Select(d =>
            {
                var span = d.Location.GetMappedLineSpan();
                return $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): {d.Id} {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
            })
            .ToList();
    }

    private static IEnumerable<string> Namespaces(INamespaceSymbol root)
    {
        foreach (var child in root.GetNamespaceMembers())
        {
            yield return child.ToDisplayString();
            foreach (var nested in Namespaces(child))
            {
                yield return nested;
            }
        }
    }

    // Every assembly this test runs with: the .NET and ASP.NET Core shared frameworks, TorchSharp, FlowOod's packages.
    private static IReadOnlyList<MetadataReference> LoadReferences()
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return paths.Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToList();
    }
}
