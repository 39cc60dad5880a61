using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FlowOod.Metrics;
using ScottPlot;

namespace FlowOod.Cli;

/// <summary>Headless plots (ScottPlot 5): each written as <c>NAME.png</c> and <c>NAME.svg</c> of a stated pixel size.</summary>
internal static class Plots
{
    /// <summary>Width of histograms and ROC plots, pixels.</summary>
    public const int Width = 800;

    /// <summary>Height of histograms and ROC plots, pixels.</summary>
    public const int Height = 500;

    /// <summary>The smallest pixels per image cell of a grid.</summary>
    public const int GridCell = 48;

    /// <summary>The narrowest grid figure written, pixels: narrower ones cannot be read on a results page.</summary>
    public const int MinGridWidth = 480;

    /// <summary>Pixels per image cell of a grid of <paramref name="columns"/> columns: <see cref="GridCell"/>, or more so the figure is at least <see cref="MinGridWidth"/> wide.</summary>
    public static int GridCellFor(int columns) => Math.Max(GridCell, (MinGridWidth + columns - 1) / columns);

    /// <summary>
    /// Overlaid density histograms (step lines, one per set, shared bins over the pooled 0.5–99.5% range), written to
    /// <paramref name="pathWithoutExtension"/>.png and .svg.
    /// </summary>
    public static void Histogram(string pathWithoutExtension, string title, string xLabel, IReadOnlyList<(string Name, double[] Values)> series, int bins = 60)
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

        var width = (high - low) / bins;
        var plot = new Plot();
        foreach (var (name, values) in series)
        {
            var counts = new double[bins];
            foreach (var v in values)
            {
                if (double.IsFinite(v) && v >= low && v <= high)
                {
                    counts[Math.Min(bins - 1, (int)((v - low) / width))]++;
                }
            }

            var xs = new double[(2 * bins) + 2];
            var ys = new double[xs.Length];
            xs[0] = low;
            for (int b = 0; b < bins; b++)
            {
                var density = counts[b] / (values.Length * width);
                xs[(2 * b) + 1] = low + (b * width);
                ys[(2 * b) + 1] = density;
                xs[(2 * b) + 2] = low + ((b + 1) * width);
                ys[(2 * b) + 2] = density;
            }

            xs[^1] = high;
            var line = plot.Add.ScatterLine(xs, ys);
            line.LegendText = name;
            line.LineWidth = 2;
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("density");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, pathWithoutExtension, Width, Height);
    }

    /// <summary>
    /// ROC curves (false-positive rate vs true-positive rate, OOD = positive), AUROC in each legend entry; each curve is
    /// named by <paramref name="label"/> (default: its OOD set).
    /// </summary>
    public static void Roc(string pathWithoutExtension, string title, IReadOnlyList<OodResult> results, Func<OodResult, string>? label = null)
    {
        label ??= r => r.OutOfDistribution;
        ArgumentNullException.ThrowIfNull(results);
        var plot = new Plot();
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.LinePattern = LinePattern.Dashed;
        chance.Color = Colors.Gray;
        foreach (var r in results)
        {
            var curve = OodMetrics.Curve(r.InScores, r.OodScores);
            var line = plot.Add.ScatterLine(curve.Select(p => p.FalsePositiveRate).ToArray(), curve.Select(p => p.TruePositiveRate).ToArray());
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"{label(r)} (AUROC {r.Auroc:F3})");
            line.LineWidth = 2;
        }

        plot.Title(title);
        plot.XLabel("false-positive rate (in-distribution flagged)");
        plot.YLabel("true-positive rate (OOD flagged)");
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.ShowLegend(Alignment.LowerRight);
        Save(plot, pathWithoutExtension, Width, Height);
    }

    /// <summary>
    /// A grid of gray images (values in [0, 1], row-major <c>[count, height, width]</c>), <paramref name="columns"/>
    /// per row, one pixel gap; <see cref="GridCellFor"/> pixels per image in the written files (at least 480 wide).
    /// </summary>
    /// <returns>The written size in pixels.</returns>
    public static (int Width, int Height) ImageGrid(string pathWithoutExtension, string title, float[] images, int count, int height, int width, int columns)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (count <= 0 || images.Length != count * height * width)
        {
            throw new ArgumentException($"Expected {count}×{height}×{width} pixel values, got {images.Length}.", nameof(images));
        }

        var rows = (count + columns - 1) / columns;
        int gridHeight = (rows * (height + 1)) - 1, gridWidth = (columns * (width + 1)) - 1;
        var grid = new double[gridHeight, gridWidth];
        for (int n = 0; n < count; n++)
        {
            int top = n / columns * (height + 1), left = n % columns * (width + 1);
            for (int r = 0; r < height; r++)
            {
                for (int c = 0; c < width; c++)
                {
                    grid[top + r, left + c] = Math.Clamp(images[(n * height * width) + (r * width) + c], 0f, 1f);
                }
            }
        }

        var plot = new Plot();
        var map = plot.Add.Heatmap(grid);
        map.Colormap = new ScottPlot.Colormaps.Grayscale();
        map.ManualRange = new ScottPlot.Range(0, 1);
        plot.Title(title);
        plot.Axes.Frameless();
        plot.HideGrid();
        plot.Axes.Margins(0, 0);
        var cell = GridCellFor(columns);
        var size = (columns * cell, (rows * cell) + 40);
        Save(plot, pathWithoutExtension, size.Item1, size.Item2);
        return size;
    }

    /// <summary>
    /// Grouped vertical bars: one group per category, one bar per series in each group, a legend naming the series.
    /// </summary>
    public static void GroupedBars(string pathWithoutExtension, string title, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<(string Name, double[] Values)> series)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groupWidth = series.Count + 1;
        for (int s = 0; s < series.Count; s++)
        {
            var color = palette.GetColor(s);
            var bars = series[s].Values
                .Select((v, c) => new Bar { Position = (c * groupWidth) + s, Value = double.IsFinite(v) ? v : 0, FillColor = color })
                .ToList();
            plot.Add.Bars(bars);
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Name, FillColor = color });
        }

        var ticks = categories.Select((name, c) => new Tick((c * groupWidth) + ((series.Count - 1) / 2.0), name)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, pathWithoutExtension, Width, Height);
    }

    /// <summary>
    /// One line per series through its points (x_i, y_i) in order, small markers at every point and a large marker at the
    /// last one; optional dashed vertical lines (e.g. matched levels) named in the legend.
    /// </summary>
    public static void Curves(string pathWithoutExtension, string title, string xLabel, string yLabel,
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
            var line = plot.Add.Scatter(xs, ys, color);
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            if (xs.Length > 0)
            {
                var last = plot.Add.Marker(xs[^1], ys[^1], MarkerShape.FilledSquare, 12, color);
                last.LegendText = string.Empty;
            }
        }

        foreach (var (name, x) in verticals ?? [])
        {
            if (double.IsFinite(x))
            {
                var v = plot.Add.VerticalLine(x, 1, Colors.Gray, LinePattern.Dashed);
                v.LegendText = name;
            }
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, pathWithoutExtension, Width, Height);
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
