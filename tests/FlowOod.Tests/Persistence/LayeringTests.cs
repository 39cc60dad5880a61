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
/// Persistence itself and the application layers on top, Gating, Embeddings (whose gates and detectors save and load themselves) and
/// Onnx (which exports model files), depend on Persistence, nothing depends on Gating, Embeddings or Onnx, and the folders form no cycle.
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
        var dependents = Graph().Where(p => p.Key is not ("Persistence" or "Gating" or "Embeddings" or "Onnx") && p.Value.Contains("Persistence")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Persistence is the top layer below the application layers Gating, Embeddings and Onnx (which exports model files); move what others need below it");
    }

    [Fact]
    public void NothingDependsOnOnnx()
    {
        var dependents = Graph().Where(p => p.Key != "Onnx" && p.Value.Contains("Onnx")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Onnx is an application layer on top of the model (its exports of built-in types live in the Onnx folder as partial classes)");
    }

    [Fact]
    public void NothingDependsOnEmbeddings()
    {
        var dependents = Graph().Where(p => p.Key != "Embeddings" && p.Value.Contains("Embeddings")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Embeddings is an application layer on top of everything else");
    }

    [Fact]
    public void NothingDependsOnGating()
    {
        var dependents = Graph().Where(p => p.Key != "Gating" && p.Value.Contains("Gating")).Select(p => p.Key).ToArray();
        dependents.Should().BeEmpty("Gating is the application layer on top of everything else");
    }

    [Fact]
    public void Folders_FormNoCycle()
    {
        var cycles = Cycles(Graph());
        string.Join("; ", cycles).Should().BeEmpty(
            "folders are layers: a cycle between them means neither can be understood, tested or moved alone (an XML-doc cref "
            + "to a higher layer counts too: write such a name as <c>Folder.Type</c>)");
    }

    [Fact]
    public void Cycles_NamesEveryCycleOfAGraph()
    {
        // Guards the cycle search itself, on graphs whose cycles are known.
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal)
        {
            ["A"] = ["B"],
            ["B"] = ["C", "D"],
            ["C"] = ["A"],
            ["D"] = ["E"],
            ["E"] = [],
            ["F"] = ["G"],
            ["G"] = ["F", "E"],
        };
        Cycles(graph).Should().BeEquivalentTo("A → B → C → A", "F → G → F");
        graph["D"].Add("B");
        Cycles(graph).Should().BeEquivalentTo("A → B → C → A", "B → D → B", "F → G → F");
        graph["D"].Remove("B");
        graph["C"].Clear();
        graph["G"].Remove("F");
        Cycles(graph).Should().BeEmpty();
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
        graph[Root].Should().Contain("Bijectors", "NormalizingFlow composes a bijector");
        graph["Bijectors"].Should().Contain("Internal", "types of the root namespace in a subfolder are seen by name");
    }

    /// <summary>
    /// The cycles of every strongly connected component of more than one folder (Tarjan): for each folder of a
    /// component the shortest cycle through it, written as the path "A → B → … → A" from its first folder in ordinal
    /// order, without repeats; so every folder of a knot is named.
    /// </summary>
    private static List<string> Cycles(Dictionary<string, HashSet<string>> graph)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var components = new List<HashSet<string>>();
        IEnumerable<string> Next(string node) =>
            graph.TryGetValue(node, out var deps) ? deps.Order(StringComparer.Ordinal) : [];

        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (var next in Next(node))
            {
                if (!index.TryGetValue(next, out var nextIndex))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (onStack.Contains(next))
                {
                    low[node] = Math.Min(low[node], nextIndex);
                }
            }

            if (low[node] == index[node])
            {
                var component = new HashSet<string>(StringComparer.Ordinal);
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);
                if (component.Count > 1)
                {
                    components.Add(component);
                }
            }
        }

        foreach (var node in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return components
            .SelectMany(component => component.Select(start => CyclePath(start, component, Next)))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    // The shortest path from start back to itself inside the component (breadth first), rotated to begin at its first
    // folder in ordinal order.
    private static string CyclePath(string start, HashSet<string> component, Func<string, IEnumerable<string>> next)
    {
        var parent = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>([start]);
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var to in next(node).Where(component.Contains))
            {
                if (to == start)
                {
                    var path = new List<string> { start };
                    for (var at = node; at != start; at = parent[at])
                    {
                        path.Add(at);
                    }

                    path.Reverse(1, path.Count - 1);
                    var first = path.IndexOf(path.Order(StringComparer.Ordinal).First());
                    var rotated = path.Skip(first).Concat(path.Take(first)).ToList();
                    rotated.Add(rotated[0]);
                    return string.Join(" → ", rotated);
                }

                if (parent.TryAdd(to, node))
                {
                    queue.Enqueue(to);
                }
            }
        }

        throw new InvalidOperationException("Unreachable: every folder of a strongly connected component lies on a cycle.");
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
        // Types of the root namespace FlowOod, wherever their file lives (the root folder, Internal), are referenced by
        // name alone; each is seen as a dependency on the folder that holds it.
        var rootNamespace = new Regex(@"^\s*namespace\s+FlowOod\s*;", RegexOptions.Multiline);
        var rootTypeFolders = files.Where(f => rootNamespace.IsMatch(File.ReadAllText(f)))
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f)!, FolderOf, StringComparer.Ordinal);
        var alternatives = string.Join("|", folders.Select(Regex.Escape));
        var usingPattern = new Regex(@"^\s*using\s+(?:static\s+)?FlowOod\.(\w+)", RegexOptions.Multiline);
        var qualifiedPattern = new Regex(@"(?<![\w.])(?:global::)?(?:FlowOod\.)?(" + alternatives + @")\.[A-Z]\w*");
        var rootTypePattern = new Regex(@"\b(" + string.Join("|", rootTypeFolders.Keys.Select(Regex.Escape)) + @")\b");
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

            foreach (Match m in rootTypePattern.Matches(text))
            {
                deps.Add(rootTypeFolders[m.Groups[1].Value]);
            }

            deps.Remove(from);
        }

        return graph;
    }
}
