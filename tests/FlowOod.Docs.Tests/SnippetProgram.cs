using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FlowOod.Docs.Tests;

/// <summary>
/// Turns the C# blocks of one Markdown file into one C# source file: the file's usings, then a class whose members are
/// the snippet context and whose methods are the blocks' statements (a block marked "continues" joins the previous
/// method); type declarations in a block go next to that class.
/// <c>#line</c> directives map every diagnostic to the Markdown file's own line numbers.
/// </summary>
internal static partial class SnippetProgram
{
    /// <summary>Usings every documentation block may rely on without saying so.</summary>
    public static readonly IReadOnlyList<string> DefaultUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Threading", "System.Threading.Tasks",
        "FlowOod", "FlowOod.Bijectors", "FlowOod.Conditioners", "FlowOod.Data", "FlowOod.Detection", "FlowOod.Gating",
        "FlowOod.Masks", "FlowOod.Metrics", "FlowOod.Models", "FlowOod.Persistence", "FlowOod.Scoring",
        "FlowOod.Training", "FlowOod.Precision", "FlowOod.Runtime", "FlowOod.Components", "FlowOod.Bottlenecks",
        "FlowOod.Layers", "FlowOod.Distributions", "FlowOod.Embeddings", "FlowOod.OnnxRuntime", "TorchSharp", "static TorchSharp.torch",
    ];

    /// <summary>The generated source of <paramref name="snippets"/>, read from <paramref name="markdownPath"/>.</summary>
    public static string Generate(MarkdownSnippets snippets, string markdownPath, IEnumerable<string> knownNamespaces)
    {
        var known = new HashSet<string>(knownNamespaces, StringComparer.Ordinal);
        var usings = new List<string>();
        var members = new List<string>();
        foreach (var line in snippets.Context)
        {
            var u = UsingPattern().Match(line.Trim());
            if (u.Success) { usings.Add(u.Groups[1].Value); } else { members.Add(line); }
        }

        var methods = new List<StringBuilder>();
        var types = new StringBuilder();
        var returnTypes = new List<string>();
        foreach (var block in snippets.Blocks)
        {
            if (block.Marker?.StartsWith("skip", StringComparison.Ordinal) == true)
            {
                continue;
            }

            var code = block.Code.ToList();
            var first = 0;
            while (first < code.Count && (UsingPattern().IsMatch(code[first].Trim()) || string.IsNullOrWhiteSpace(code[first])))
            {
                var u = UsingPattern().Match(code[first].Trim());
                if (u.Success) { usings.Add(u.Groups[1].Value); }
                first++;
            }

            if (block.Marker != "continues" || methods.Count == 0)
            {
                methods.Add(new StringBuilder());
                returnTypes.Add("void");
            }

            if (block.Marker?.StartsWith("returns ", StringComparison.Ordinal) == true)
            {
                returnTypes[^1] = block.Marker["returns ".Length..].Trim();
            }

            // A block is parsed like a file of top-level statements: its statements (and local functions) go into
            // the method, its type declarations next to the class.
            var root = CSharpSyntaxTree.ParseText(string.Join('\n', code.Skip(first)), new CSharpParseOptions(LanguageVersion.Latest)).GetCompilationUnitRoot();
            foreach (var member in root.Members)
            {
                var target = member is GlobalStatementSyntax ? methods[^1] : types;
                var line = block.Line + first + root.SyntaxTree.GetLineSpan(member.FullSpan).StartLinePosition.Line;
                target.AppendLine(CultureInfo.InvariantCulture, $"#line {line} \"{markdownPath}\"");
                target.AppendLine(member.ToFullString());
                target.AppendLine("#line default");
            }

            if (root.Members.Count == 0 && root.ContainsDiagnostics)
            {
                methods[^1].AppendLine(CultureInfo.InvariantCulture, $"#line {block.Line + first} \"{markdownPath}\"");
                methods[^1].AppendLine(string.Join('\n', code.Skip(first)));
                methods[^1].AppendLine("#line default");
            }
        }

        var source = new StringBuilder();
        foreach (var u in DefaultUsings.Where(u => known.Contains(u.Replace("static ", "", StringComparison.Ordinal)) || u.StartsWith("static", StringComparison.Ordinal))
                     .Concat(usings).Distinct(StringComparer.Ordinal))
        {
            source.AppendLine(CultureInfo.InvariantCulture, $"using {u};");
        }

        source.AppendLine("#pragma warning disable");
        source.AppendLine("internal sealed class DocumentationSnippets");
        source.AppendLine("{");
        foreach (var member in members)
        {
            source.AppendLine(member);
        }

        for (var i = 0; i < methods.Count; i++)
        {
            source.AppendLine(CultureInfo.InvariantCulture, $"private {returnTypes[i]} Snippet{i}()");
            source.AppendLine("{");
            source.Append(methods[i]);
            source.AppendLine("}");
        }

        source.AppendLine("}");
        source.Append(types);
        return source.ToString();
    }

    [GeneratedRegex(@"^using\s+((?:static\s+)?[A-Za-z_][\w.]*)\s*;$")]
    private static partial Regex UsingPattern();
}
