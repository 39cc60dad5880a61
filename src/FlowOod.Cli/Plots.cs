using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Metrics;
using ScottPlot;

namespace FlowOod.Cli;

/// <summary>
/// Headless plots (ScottPlot 5): each written as <c>NAME.png</c> and <c>NAME.svg</c> of a stated pixel size. Every plot
/// has a title and axis labels; legends sit outside the data area (right of it); a value that is not finite is never drawn
/// (its legend entry or label says "n/a"). The <c>Build…</c> methods return the plot unsaved, for tests.
/// </summary>
internal static partial class Plots
{
    /// <summary>Width of histograms, ROC, bar and curve plots, pixels (the legend takes the right part).</summary>
    public const int Width = 1000;

    /// <summary>Height of histograms, ROC, bar and curve plots, pixels.</summary>
    public const int Height = 500;

    /// <summary>A histogram's x-axis is logarithmic (log-spaced bins) when its plotted range spans more than this ratio.</summary>
    public const double LogRangeRatio = 10;

    /// <summary>The text shown for a value that is not finite.</summary>
    public const string NotAvailable = "n/a";

    /// <summary>
    /// Overlaid density histograms (step lines, one per set, shared bins over the pooled 0.5–99.5% range), written to
    /// <paramref name="pathWithoutExtension"/>.png and .svg. When that range is positive and spans more than
    /// <see cref="LogRangeRatio"/>, the bins are log-spaced and the x-axis logarithmic (density per decade).
    /// </summary>
    public static void Histogram(string pathWithoutExtension, string title, string xLabel, IReadOnlyList<(string Name, double[] Values)> series, int bins = 60) =>
        Save(BuildHistogram(title, xLabel, series, bins), pathWithoutExtension, Width, Height);

    /// <summary>The plot <see cref="Histogram"/> writes.</summary>
    internal static Plot BuildHistogram(string title, string xLabel, IReadOnlyList<(string Name, double[] Values)> series, int bins = 60)
    {
        ArgumentNullException.ThrowIfNull(series);
        var pooled = series.SelectMany(s => s.Values).Where(double.IsFinite).Order().ToArray();
        if (pooled.Length == 0)
        {
            throw new ArgumentException("No finite values to plot.", nameof(series));
        }

        double low = pooled[(int)(0.005 * (pooled.Length - 1))], high = pooled[(int)(0.995 * (pooled.Length - 1))];
        if (!(high > low))
        {
            (low, high) = (low - 0.5, high + 0.5);
        }

        var log = low > 0 && high / low > LogRangeRatio;
        Func<double, double> at = log ? Math.Log10 : v => v;
        double start = at(low), end = at(high), width = (end - start) / bins;
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < series.Count; s++)
        {
            var (name, values) = series[s];
            var finite = values.Count(double.IsFinite);
            if (finite == 0)
            {
                AddLegendOnly(plot, $"{name}: {NotAvailable} (no finite values)", palette.GetColor(s));
                continue;
            }

            var counts = new double[bins];
            foreach (var v in values)
            {
                if (double.IsFinite(v) && v >= low && v <= high)
                {
                    counts[Math.Clamp((int)((at(v) - start) / width), 0, bins - 1)]++;
                }
            }

            var xs = new double[(2 * bins) + 2];
            var ys = new double[xs.Length];
            xs[0] = start;
            for (int b = 0; b < bins; b++)
            {
                var density = counts[b] / (finite * width);
                xs[(2 * b) + 1] = start + (b * width);
                ys[(2 * b) + 1] = density;
                xs[(2 * b) + 2] = start + ((b + 1) * width);
                ys[(2 * b) + 2] = density;
            }

            xs[^1] = end;
            var line = plot.Add.ScatterLine(xs, ys, palette.GetColor(s));
            line.LegendText = finite == values.Length ? name : string.Create(CultureInfo.InvariantCulture, $"{name} ({values.Length - finite} non-finite left out)");
            line.LineWidth = 2;
        }

        if (log)
        {
            LogTicks(plot.Axes.Bottom, low, high);
        }

        Label(plot, title, log ? xLabel + ", log scale" : xLabel, log ? "density per decade" : "density");
        return plot;
    }

    /// <summary>
    /// ROC curves (false-positive rate vs true-positive rate, OOD = positive), AUROC in each legend entry; each curve is
    /// named by <paramref name="label"/> (default: its OOD set).
    /// </summary>
    public static void Roc(string pathWithoutExtension, string title, IReadOnlyList<OodResult> results, Func<OodResult, string>? label = null) =>
        Save(BuildRoc(title, results, label), pathWithoutExtension, Width, Height);

    /// <summary>The plot <see cref="Roc"/> writes.</summary>
    internal static Plot BuildRoc(string title, IReadOnlyList<OodResult> results, Func<OodResult, string>? label = null)
    {
        label ??= r => r.OutOfDistribution;
        ArgumentNullException.ThrowIfNull(results);
        var plot = new Plot();
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.LinePattern = LinePattern.Dashed;
        chance.Color = Colors.Gray;
        chance.LegendText = "chance (AUROC 0.5)";
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            if (r.InScores.Length == 0 || r.OodScores.Length == 0 || r.InScores.Any(double.IsNaN) || r.OodScores.Any(double.IsNaN) || !double.IsFinite(r.Auroc))
            {
                AddLegendOnly(plot, $"{label(r)} (AUROC {NotAvailable})", palette.GetColor(i));
                continue;
            }

            var curve = OodMetrics.Curve(r.InScores, r.OodScores);
            var line = plot.Add.ScatterLine(curve.Select(p => p.FalsePositiveRate).ToArray(), curve.Select(p => p.TruePositiveRate).ToArray(), palette.GetColor(i));
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"{label(r)} (AUROC {r.Auroc:F3})");
            line.LineWidth = 2;
        }

        Label(plot, title, "false-positive rate (in-distribution flagged)", "true-positive rate (OOD flagged)");
        plot.Axes.SetLimits(-0.01, 1.01, -0.01, 1.01); // a perfect curve runs along the edges: keep it off the frame
        return plot;
    }

    /// <summary>
    /// One line per series through its points (x_i, y_i) in order, small markers at every point and a large marker at the
    /// last one (not in the legend); optional vertical lines (e.g. matched levels), each its own colour and pattern,
    /// named in the legend with its x value. Points that are not finite are left out; a series with none is listed as n/a.
    /// </summary>
    public static void Curves(string pathWithoutExtension, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, double[] X, double[] Y)> series, IReadOnlyList<(string Name, double X)>? verticals = null) =>
        Save(BuildCurves(title, xLabel, yLabel, series, verticals), pathWithoutExtension, Width, Height);

    /// <summary>The plot <see cref="Curves"/> writes.</summary>
    internal static Plot BuildCurves(string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, double[] X, double[] Y)> series, IReadOnlyList<(string Name, double X)>? verticals = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < series.Count; s++)
        {
            var (name, xs, ys) = series[s];
            if (xs.Length != ys.Length)
            {
                throw new ArgumentException($"Series '{name}' has {xs.Length} x values and {ys.Length} y values.", nameof(series));
            }

            var color = palette.GetColor(s);
            var keep = Enumerable.Range(0, xs.Length).Where(i => double.IsFinite(xs[i]) && double.IsFinite(ys[i])).ToArray();
            if (keep.Length == 0)
            {
                AddLegendOnly(plot, $"{name}: {NotAvailable}", color);
                continue;
            }

            double[] fx = keep.Select(i => xs[i]).ToArray(), fy = keep.Select(i => ys[i]).ToArray();
            var line = plot.Add.Scatter(fx, fy, color);
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            plot.Add.Marker(fx[^1], fy[^1], MarkerShape.FilledSquare, 12, color);
        }

        var patterns = new[] { LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed };
        var shades = new[] { Colors.Gray, Colors.Black, Colors.DarkGray };
        var drawn = 0;
        foreach (var (name, x) in verticals ?? [])
        {
            if (double.IsFinite(x))
            {
                var v = plot.Add.VerticalLine(x, 1.5f, shades[drawn % shades.Length], patterns[drawn % patterns.Length]);
                v.LegendText = string.Create(CultureInfo.InvariantCulture, $"{name}: {x:G4}");
                drawn++;
            }
            else
            {
                AddLegendOnly(plot, $"{name}: {NotAvailable}", Colors.Gray);
            }
        }

        Label(plot, title, xLabel, yLabel);
        return plot;
    }

    /// <summary>Sets the title and axis labels and shows the legend (if any entry) to the right of the data area.</summary>
    private static void Label(Plot plot, string title, string xLabel, string yLabel)
    {
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        if (plot.GetPlottables().Any(p => p.LegendItems.Any(i => !string.IsNullOrEmpty(i.LabelText))) || plot.Legend.ManualItems.Count > 0)
        {
            plot.ShowLegend(Edge.Right);
        }
    }

    /// <summary>A legend entry with nothing drawn for it (a series without finite values).</summary>
    private static void AddLegendOnly(Plot plot, string text, Color color) =>
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = text, LineColor = color, LineWidth = 2, LinePattern = LinePattern.Dotted });

    /// <summary>Ticks of a log10 axis (data plotted as log10 of the value) at 1, 2 and 5 × powers of ten, labelled with the value.</summary>
    private static void LogTicks(IAxis axis, double low, double high)
    {
        var ticks = new List<Tick>();
        for (var decade = Math.Floor(Math.Log10(low)); decade <= Math.Ceiling(Math.Log10(high)); decade++)
        {
            foreach (var m in new[] { 1, 2, 5 })
            {
                var value = m * Math.Pow(10, decade);
                if (value >= low / 1.01 && value <= high * 1.01)
                {
                    ticks.Add(new Tick(Math.Log10(value), value.ToString("G4", CultureInfo.InvariantCulture)));
                }
            }

            for (int m = 2; m <= 9; m++)
            {
                var value = m * Math.Pow(10, decade);
                if (m is not (2 or 5) && value >= low && value <= high)
                {
                    ticks.Add(new Tick(Math.Log10(value), string.Empty, isMajor: false));
                }
            }
        }

        axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
    }

    private static void Save(Plot plot, string pathWithoutExtension, int width, int height)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(pathWithoutExtension));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        plot.SavePng(pathWithoutExtension + ".png", width, height);
        plot.SaveSvg(pathWithoutExtension + ".svg", width, height);
    }
}
