using System;
using System.IO;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>
/// The console the verbs write tables to: Spectre.Console with colours on an interactive terminal; plain text (no ANSI
/// escapes, Markdown tables) when output is redirected or <c>CI=true</c>, so logs stay readable.
/// </summary>
internal static class Terminal
{
    /// <summary>Whether plain output is the default here: standard output redirected, or the CI variable is true.</summary>
    public static bool PlainByDefault =>
        Console.IsOutputRedirected || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>A console writing to <paramref name="writer"/>; plain when <paramref name="plain"/>.</summary>
    public static IAnsiConsole Create(TextWriter writer, bool plain)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = plain ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = plain ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = plain ? InteractionSupport.No : InteractionSupport.Detect,
            Out = new AnsiConsoleOutput(writer),
        });
        if (plain)
        {
            console.Profile.Width = PlainWidth; // a log line is never wrapped
        }

        return console;
    }

    private const int PlainWidth = 4096;

    /// <summary>A table in the console's style: rounded borders interactively, Markdown when plain.</summary>
    public static Table NewTable(bool plain, string title) => new Table
    {
        Border = plain ? TableBorder.Markdown : TableBorder.Rounded,
        Title = plain ? null : new TableTitle(Markup.Escape(title)),
    };
}
