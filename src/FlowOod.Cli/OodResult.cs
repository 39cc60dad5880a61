using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using FlowOod.Metrics;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>One scorer's scores on an in-distribution set and one OOD set, with the metrics (OOD = positive class).</summary>
internal sealed record OodResult(string Scorer, string InDistribution, string OutOfDistribution, double[] InScores, double[] OodScores)
{
    // Computed from the scores on every read, so a copy made with `with { OodScores = ... }` never keeps stale metrics.
    public double Auroc => OodMetrics.Auroc(InScores, OodScores);

    public double AuprOut => OodMetrics.AuprOut(InScores, OodScores);

    public double FprAt95 => OodMetrics.FprAtTpr(InScores, OodScores);

    public double MeanIn => InScores.Average();

    public double MeanOod => OodScores.Average();

    private static readonly string[] Headers = ["Scorer", "In-dist.", "OOD set", "n in", "n OOD", "mean in", "mean OOD", "AUROC", "AUPR-Out", "FPR@95%TPR"];

    /// <summary>Writes <paramref name="results"/> as one table (Spectre, or Markdown when <paramref name="plain"/>).</summary>
    public static void Write(IAnsiConsole console, bool plain, string title, IEnumerable<OodResult> results)
    {
        ArgumentNullException.ThrowIfNull(console);
        if (plain)
        {
            // Plain text for logs: the Markdown table, never wrapped to the console's width.
            console.WriteLine(title);
            console.WriteLine();
            console.Write(new Text(Markdown(results)));
            console.WriteLine();
            return;
        }

        // On a terminal, a column that holds one value in every row (the scorer, the in-distribution set) moves into
        // the title, so the table fits a narrow window.
        var rows = results.ToList();
        var shown = Enumerable.Range(0, Headers.Length)
            .Where(i => i > 1 || rows.Select(r => r.Cells()[i]).Distinct().Count() > 1)
            .ToArray();
        var fixedCells = Enumerable.Range(0, 2).Except(shown).Select(i => $"{Headers[i]}: {rows[0].Cells()[i]}").ToArray();
        var table = Terminal.NewTable(plain, fixedCells.Length == 0 ? title : $"{title} ({string.Join("; ", fixedCells)})");
        foreach (var i in shown)
        {
            var column = new TableColumn(Markup.Escape(Headers[i]));
            table.AddColumn(i >= 3 ? column.RightAligned() : column);
        }

        foreach (var r in rows)
        {
            var cells = r.Cells();
            table.AddRow(shown.Select(i => Markup.Escape(cells[i])).ToArray());
        }

        console.Write(table);
        console.WriteLine();
    }

    /// <summary>The rows as a Markdown table (for result pages).</summary>
    public static string Markdown(IEnumerable<OodResult> results)
    {
        var text = new StringBuilder();
        text.Append("| ").AppendJoin(" | ", Headers).AppendLine(" |");
        text.Append('|').AppendJoin('|', Headers.Select((_, i) => i >= 3 ? "---:" : "---")).AppendLine("|");
        foreach (var r in results)
        {
            text.Append("| ").AppendJoin(" | ", r.Cells().Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).AppendLine(" |");
        }

        return text.ToString();
    }

    private string[] Cells() =>
    [
        Scorer, InDistribution, OutOfDistribution,
        InScores.Length.ToString(CultureInfo.InvariantCulture), OodScores.Length.ToString(CultureInfo.InvariantCulture),
        F(MeanIn), F(MeanOod), F(Auroc), F(AuprOut), F(FprAt95),
    ];

    private static string F(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
