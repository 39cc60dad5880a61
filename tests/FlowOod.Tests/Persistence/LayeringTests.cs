using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Persistence;

/// <summary>
/// The folder → folder dependencies of src/FlowOod, from <c>using FlowOod.X;</c> directives and qualified
/// <c>FlowOod.X.</c> / <c>X.</c> references: the component mechanism depends on nothing else of FlowOod, only
/// Persistence itself and Gating (the application layer on top, whose gates save and load themselves) depend on
/// Persistence, and nothing depends on Gating.
/// </summary>
public sealed class LayeringTests
{
    private const string Root = "(root)";

    [Fact]
    public void Components_DependsOnNothingElseOfFlowOod()
    {
        var graph = Graph();
        graph.Should().ContainKey("Components");
        graph["Components"].Should().BeEmpty("FlowOod.Components is the low-level, dependency-free layer");
    }

    [Fact]
    public void NothingOutsidePersistence_DependsOnPersistence()
    {
        var dependents = Graph().Where(p => p.Key is not ("Persistence" or "Gating") && p.Value.Contains("Persistence")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Persistence is the top layer below Gating; move what others need below it");
    }

    [Fact]
    public void NothingDependsOnGating()
    {
        var dependents = Graph().Where(p => p.Key != "Gating" && p.Value.Contains("Gating")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Gating is the application layer on top of everything else");
    }

    [Fact]
    public void Graph_SeesKnownDependencies()
    {
        // Guards the scanner itself: a graph that finds nothing would make the two tests above pass vacuously.
        var graph = Graph();
        graph["Persistence"].Should().Contain(["Components", "Scoring", "Models"]);
        graph["Masks"].Should().Contain("Components");
        graph[Root].Should().Contain("Components");
        graph["Gating"].Should().Contain(["Persistence", "Detection", "Scoring"]);
    }

    private static Dictionary<string, HashSet<string>> Graph()
    {
        var source = Path.Combine(RepositoryPaths.Root, "src", "FlowOod");
        var files = Directory.GetFiles(source, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToArray();
        string FolderOf(string file)
        {
            var relative = Path.GetRelativePath(source, file).Split(Path.DirectorySeparatorChar);
            return relative.Length == 1 ? Root : relative[0];
        }

        var folders = files.Select(FolderOf).Where(f => f != Root).ToHashSet(StringComparer.Ordinal);
        var rootTypes = files.Where(f => FolderOf(f) == Root).Select(f => Path.GetFileNameWithoutExtension(f)!).ToArray();
        var alternatives = string.Join("|", folders.Select(Regex.Escape));
        var usingPattern = new Regex(@"^\s*using\s+(?:static\s+)?FlowOod\.(\w+)", RegexOptions.Multiline);
        var qualifiedPattern = new Regex(@"(?<![\w.])(?:global::)?(?:FlowOod\.)?(" + alternatives + @")\.[A-Z]\w*");
        var rootTypePattern = new Regex(@"\b(" + string.Join("|", rootTypes.Select(Regex.Escape)) + @")\b");
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var from = FolderOf(file);
            var deps = graph.TryGetValue(from, out var set) ? set : graph[from] = new HashSet<string>(StringComparer.Ordinal);
            // <c>...</c> in XML docs is prose, not a reference; crefs and code are.
            var text = Regex.Replace(
                string.Join('\n', File.ReadAllLines(file).Where(l => !l.TrimStart().StartsWith("namespace ", StringComparison.Ordinal))),
                "<c>.*?</c>",
                string.Empty);
            foreach (Match m in usingPattern.Matches(text))
            {
                deps.Add(m.Groups[1].Value);
            }

            foreach (Match m in qualifiedPattern.Matches(text))
            {
                deps.Add(m.Groups[1].Value);
            }

            if (from != Root && rootTypePattern.IsMatch(text))
            {
                deps.Add(Root);
            }

            deps.Remove(from);
        }

        return graph;
    }
}
