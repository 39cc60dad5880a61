using System;
using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;

namespace FlowOod.Docs.Tests;

/// <summary>One ```csharp block of a Markdown file, with the marker that came right before it.</summary>
/// <param name="Line">The 1-based line of the block's first code line in the Markdown file.</param>
/// <param name="Code">The block's lines, the fence's indentation removed.</param>
/// <param name="Marker">"continues", "skip ...", "returns TYPE" or null (see <see cref="MarkdownSnippets"/>).</param>
internal sealed record CodeBlock(int Line, IReadOnlyList<string> Code, string? Marker);

/// <summary>
/// The C# blocks of one Markdown file and the file's snippet context. Conventions (docs/design.md, "Documentation
/// snippets"):
/// <list type="bullet">
/// <item>Every ```csharp block is compiled; by default each is the body of its own method, so blocks do not see each
/// other's variables.</item>
/// <item><c>&lt;!-- snippet: continues --&gt;</c> on the line before a block appends it to the previous block's
/// method: same scope, so it sees (and must not redeclare) the earlier block's variables.</item>
/// <item><c>&lt;!-- snippet: skip REASON --&gt;</c> before a block leaves it out (for pseudo-code such as
/// <c>new MyCoupling(...)</c>).</item>
/// <item><c>&lt;!-- snippet: returns TYPE --&gt;</c> before a block makes its method return TYPE, for blocks that
/// end with <c>return</c> (a method body such as "build a flow").</item>
/// <item>A hidden <c>&lt;!-- snippet-context ... --&gt;</c> comment anywhere in the file declares what the blocks take
/// as given: its <c>using</c> lines are added to the usings, everything else becomes members of the class the
/// methods live in (e.g. <c>NormalizingFlow flow;</c>), so a block may use them or declare a local of the same
/// name.</item>
/// <item><c>using X;</c> lines at the start of a block are moved to the usings.</item>
/// </list>
/// </summary>
internal sealed partial class MarkdownSnippets
{
    private MarkdownSnippets(IReadOnlyList<CodeBlock> blocks, IReadOnlyList<string> context)
    {
        Blocks = blocks;
        Context = context;
    }

    /// <summary>The ```csharp blocks in file order.</summary>
    public IReadOnlyList<CodeBlock> Blocks { get; }

    /// <summary>The lines of the file's snippet-context comments.</summary>
    public IReadOnlyList<string> Context { get; }

    /// <summary>Reads the C# blocks and context of a Markdown file.</summary>
    public static MarkdownSnippets Read(string path)
    {
        var lines = File.ReadAllLines(path);
        var blocks = new List<CodeBlock>();
        var context = new List<string>();
        string? pendingMarker = null;
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].Trim();
            if (trimmed.StartsWith("<!-- snippet-context", StringComparison.Ordinal))
            {
                for (i++; i < lines.Length && !lines[i].Trim().StartsWith("-->", StringComparison.Ordinal); i++)
                {
                    context.Add(lines[i]);
                }

                continue;
            }

            var marker = MarkerPattern().Match(trimmed);
            if (marker.Success)
            {
                pendingMarker = marker.Groups[1].Value;
                continue;
            }

            var fence = FencePattern().Match(lines[i]);
            if (!fence.Success)
            {
                if (trimmed.Length > 0)
                {
                    pendingMarker = null;
                }

                continue;
            }

            var indent = fence.Groups[1].Value.Length;
            var language = fence.Groups[3].Value;
            var code = new List<string>();
            var start = i + 2;
            for (i++; i < lines.Length && !lines[i].Trim().StartsWith(fence.Groups[2].Value, StringComparison.Ordinal); i++)
            {
                code.Add(lines[i].Length >= indent && string.IsNullOrWhiteSpace(lines[i][..indent]) ? lines[i][indent..] : lines[i].TrimStart());
            }

            if (language is "csharp" or "cs" or "c#")
            {
                blocks.Add(new CodeBlock(start, code, pendingMarker));
            }

            pendingMarker = null;
        }

        return new MarkdownSnippets(blocks, context);
    }

    [GeneratedRegex(@"^<!--\s*snippet:\s*((?:continues|skip|returns)\b.*?)\s*-->$")]
    private static partial Regex MarkerPattern();

    [GeneratedRegex(@"^(\s*)(```+)\s*([A-Za-z#]*)\s*$")]
    private static partial Regex FencePattern();
}
