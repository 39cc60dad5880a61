using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ScottPlot;

namespace FlowOod.Cli;

/// <summary>Image grids and grouped bars.</summary>
internal static partial class Plots
{
    /// <summary>The smallest pixels per image cell of a grid.</summary>
    public const int GridCell = 48;

    /// <summary>The narrowest grid (its images, without the labels) written, pixels: narrower ones cannot be read on a results page.</summary>
    public const int MinGridWidth = 480;

    /// <summary>Pixels above a grid's images: the title and the column labels.</summary>
    public const int GridTop = 72;

    /// <summary>Pixels left of a grid's images when it has row labels.</summary>
    public const int GridRowLabels = 160;

    /// <summary>Pixels per image cell of a grid of <paramref name="columns"/> columns: <see cref="GridCell"/>, or more so the images are at least <see cref="MinGridWidth"/> wide.</summary>
    public static int GridCellFor(int columns) => Math.Max(GridCell, (MinGridWidth + columns - 1) / columns);

    /// <summary>
    /// The written size of a grid of <paramref name="rows"/> × <paramref name="columns"/> images: the images
    /// (<see cref="GridCellFor"/> pixels each), <see cref="GridTop"/> pixels above them for the title and column labels, and
    /// <see cref="GridRowLabels"/> pixels left of them when the rows are labelled (8 otherwise); 8 pixels right, and
    /// below 8 pixels, or <see cref="GridNote"/> with a note.
    /// </summary>
    public static (int Width, int Height) GridSize(int rows, int columns, bool rowLabels, bool note = false)
    {
        var cell = GridCellFor(columns);
        return ((columns * cell) + (rowLabels ? GridRowLabels : 8) + 8, (rows * cell) + GridTop + (note ? GridNote : 8));
    }

    /// <summary>Pixels below a grid's images when it has a note (e.g. how values map to gray levels).</summary>
    public const int GridNote = 30;

    /// <summary>
    /// A grid of gray images (values in [0, 1], row-major <c>[count, height, width]</c>), <paramref name="columns"/> per
    /// row, one pixel gap, titled, with a label over each column and left of each row when given (use <c>\n</c> to
    /// break a long label), and an optional one-line <paramref name="note"/> under the images; <see cref="GridSize"/> gives
    /// the written size.
    /// </summary>
    /// <returns>The written size in pixels.</returns>
    public static (int Width, int Height) ImageGrid(string pathWithoutExtension, string title, float[] images, int count, int height, int width, int columns,
        IReadOnlyList<string>? columnLabels = null, IReadOnlyList<string>? rowLabels = null, string? note = null)
    {
        var (plot, size) = BuildImageGrid(title, images, count, height, width, columns, columnLabels, rowLabels, note);
        Save(plot, pathWithoutExtension, size.Width, size.Height);
        return size;
    }

    /// <summary>The plot <see cref="ImageGrid"/> writes, and its size.</summary>
    internal static (Plot Plot, (int Width, int Height) Size) BuildImageGrid(string title, float[] images, int count, int height, int width, int columns,
        IReadOnlyList<string>? columnLabels = null, IReadOnlyList<string>? rowLabels = null, string? note = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (count <= 0 || images.Length != count * height * width)
        {
            throw new ArgumentException($"Expected {count}×{height}×{width} pixel values, got {images.Length}.", nameof(images));
        }

        var rows = (count + columns - 1) / columns;
        if (columnLabels is not null && columnLabels.Count != columns)
        {
            throw new ArgumentException($"Expected {columns} column labels, got {columnLabels.Count}.", nameof(columnLabels));
        }

        if (rowLabels is not null && rowLabels.Count != rows)
        {
            throw new ArgumentException($"Expected {rows} row labels, got {rowLabels.Count}.", nameof(rowLabels));
        }

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
        map.Extent = new CoordinateRect(0, gridWidth, 0, gridHeight);
        plot.Axes.SetLimits(0, gridWidth, 0, gridHeight);
        plot.Axes.SetLimitsX(0, gridWidth, plot.Axes.Top);
        plot.Axes.SetLimitsY(0, gridHeight, plot.Axes.Right);
        plot.HideGrid();
        plot.Title(title);

        // Row 0 is drawn at the top (y = gridHeight); the labels are tick labels at the cells' centres.
        var columnTicks = Enumerable.Range(0, columns)
            .Select(c => new Tick((c * (width + 1)) + (width / 2.0), columnLabels?[c] ?? string.Empty)).ToArray();
        var rowTicks = Enumerable.Range(0, rows)
            .Select(r => new Tick(gridHeight - ((r * (height + 1)) + (height / 2.0)), rowLabels?[r] ?? string.Empty)).ToArray();
        foreach (var (axis, ticks) in new (IAxis, Tick[])[] { (plot.Axes.Top, columnTicks), (plot.Axes.Left, rowTicks), (plot.Axes.Bottom, []), (plot.Axes.Right, []) })
        {
            axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
            axis.MajorTickStyle.Length = 0;
            axis.MinorTickStyle.Length = 0;
            axis.FrameLineStyle.Width = 0;
            axis.TickLabelStyle.IsVisible = ticks.Length > 0;
            axis.TickLabelStyle.FontSize = 13;
        }

        if (note is not null)
        {
            plot.Axes.Bottom.Label.Text = note;
            plot.Axes.Bottom.Label.FontSize = 12;
            plot.Axes.Bottom.Label.Bold = false;
        }

        var size = GridSize(rows, columns, rowLabels is not null, note is not null);
        plot.Layout.Fixed(new PixelPadding(rowLabels is not null ? GridRowLabels : 8, 8, note is not null ? GridNote : 8, GridTop));
        return (plot, size);
    }

    /// <summary>
    /// Grouped vertical bars: one group per category, one bar per series in each group, a legend (right of the data)
    /// naming the series. A value that is not finite gets no bar, only an "n/a" mark at zero.
    /// </summary>
    public static void GroupedBars(string pathWithoutExtension, string title, string xLabel, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<(string Name, double[] Values)> series) =>
        Save(BuildGroupedBars(title, xLabel, yLabel, categories, series), pathWithoutExtension, Width, Height);

    /// <summary>The plot <see cref="GroupedBars"/> writes.</summary>
    internal static Plot BuildGroupedBars(string title, string xLabel, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<(string Name, double[] Values)> series)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groupWidth = series.Count + 1;
        var missing = 0;
        for (int s = 0; s < series.Count; s++)
        {
            var color = palette.GetColor(s);
            var values = series[s].Values;
            var bars = values
                .Select((v, c) => (v, c))
                .Where(p => double.IsFinite(p.v))
                .Select(p => new Bar { Position = (p.c * groupWidth) + s, Value = p.v, FillColor = color })
                .ToList();
            for (int c = 0; c < values.Length; c++)
            {
                if (!double.IsFinite(values[c]))
                {
                    var mark = plot.Add.Text(NotAvailable, (c * groupWidth) + s, 0);
                    mark.LabelFontColor = color;
                    mark.LabelFontSize = 11;
                    mark.LabelAlignment = Alignment.LowerCenter;
                    mark.LabelRotation = -90;
                    missing++;
                }
            }

            if (bars.Count > 0)
            {
                plot.Add.Bars(bars);
            }

            var legend = values.Any(v => !double.IsFinite(v))
                ? string.Create(CultureInfo.InvariantCulture, $"{series[s].Name} ({NotAvailable}: {values.Count(v => !double.IsFinite(v))} of {values.Length})")
                : series[s].Name;
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = legend, FillColor = color });
        }

        var ticks = categories.Select((name, c) => new Tick((c * groupWidth) + ((series.Count - 1) / 2.0), name)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        Label(plot, title, xLabel, yLabel);
        return plot;
    }
}
