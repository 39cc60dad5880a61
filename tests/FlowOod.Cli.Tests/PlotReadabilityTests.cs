using System;
using System.IO;
using System.Linq;
using FluentAssertions;
using ScottPlot;
using Xunit;

namespace FlowOod.Cli.Tests;

// What makes a figure readable, checked on the plots the CLI writes: titles and axis labels, labelled grids whose title
// is drawn, log axes for values spanning orders of magnitude, no bar or curve for a value that is not finite (n/a in the
// legend), unique legend entries outside the data area.
public sealed class PlotReadabilityTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-plot-readability-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string[] LegendTexts(Plot plot) => plot.Legend.GetItems().Select(i => i.LabelText).Where(t => !string.IsNullOrEmpty(t)).ToArray();

    [Fact]
    public void Histogram_WideRange_UsesALogAxisAndSaysSo()
    {
        var wide = Enumerable.Range(1, 200).Select(i => 2.0 + (i % 10)).Concat(Enumerable.Range(1, 200).Select(i => 100.0 + (7 * i))).ToArray();

        var plot = Plots.BuildHistogram("negative training", "bits/dim", [("in", wide[..200]), ("ood", wide[200..])]);

        plot.Axes.Title.Label.Text.Should().Be("negative training");
        plot.Axes.Bottom.Label.Text.Should().Be("bits/dim, log scale");
        plot.Axes.Left.Label.Text.Should().Be("density per decade");
        plot.Axes.Bottom.TickGenerator.Should().BeOfType<ScottPlot.TickGenerators.NumericManual>();
        plot.Axes.GetPanels().OfType<ScottPlot.Panels.LegendPanel>().Should().ContainSingle("the legend sits in a panel outside the data area");
    }

    [Fact]
    public void Histogram_NarrowRange_StaysLinear()
    {
        var plot = Plots.BuildHistogram("t", "bits/dim", [("in", Enumerable.Range(0, 100).Select(i => 3 + (i / 100.0)).ToArray())]);

        plot.Axes.Bottom.Label.Text.Should().Be("bits/dim");
        plot.Axes.Left.Label.Text.Should().Be("density");
    }

    [Fact]
    public void Histogram_SeriesWithoutFiniteValues_IsNotDrawnAndSaysNotAvailable()
    {
        var plot = Plots.BuildHistogram("t", "x", [("good", [1.0, 2.0, 3.0]), ("broken", [double.NaN, double.PositiveInfinity])]);

        plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Should().ContainSingle();
        LegendTexts(plot).Should().Equal("good", "broken: n/a (no finite values)");
    }

    [Fact]
    public void GroupedBars_NaNGetsNoBarAndIsMarkedNotAvailable()
    {
        var plot = Plots.BuildGroupedBars("AUROC", "model", "AUROC", ["a", "b", "c"], [("equal", [0.1, 0.2, 0.3]), ("matched", [0.4, double.NaN, 0.5])]);

        var bars = plot.GetPlottables().OfType<ScottPlot.Plottables.BarPlot>().SelectMany(b => b.Bars).ToArray();
        bars.Should().HaveCount(5, "the NaN value gets no (zero-height) bar");
        bars.Should().OnlyContain(b => b.Value != 0);
        plot.GetPlottables().OfType<ScottPlot.Plottables.Text>().Should().ContainSingle().Which.LabelText.Should().Be("n/a");
        LegendTexts(plot).Should().Equal("equal", "matched (n/a: 1 of 3)");
        plot.Axes.Bottom.Label.Text.Should().Be("model");
        plot.Axes.Left.Label.Text.Should().Be("AUROC");
    }

    [Fact]
    public void Curves_LegendEntriesAreUniqueAndNameEachVerticalWithItsValue()
    {
        var plot = Plots.BuildCurves("AUROC vs bits/dim", "bits/dim", "AUROC",
            [("checkerboard", [9.0, 8, 7], [0.9, 0.3, 0.1]), ("cycle", [9.5, 8.1, double.NaN], [0.8, 0.2, 0.12])],
            [("matched (masks)", 7.475), ("matched (bottleneck)", 7.067)]);

        var texts = LegendTexts(plot);
        texts.Should().Equal("checkerboard", "cycle", "matched (masks): 7.475", "matched (bottleneck): 7.067");
        texts.Should().OnlyHaveUniqueItems();
        var lines = plot.GetPlottables().OfType<ScottPlot.Plottables.VerticalLine>().ToArray();
        lines.Should().HaveCount(2);
        (lines[0].LinePattern.Equals(lines[1].LinePattern) && lines[0].LineColor == lines[1].LineColor).Should().BeFalse("two identical legend entries cannot be told apart");
        plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Last().Data.GetScatterPoints().Should().HaveCount(2, "the point with a NaN coordinate is left out");
    }

    [Fact]
    public void Roc_ResultWithNaNScores_IsListedAsNotAvailable()
    {
        var plot = Plots.BuildRoc("ROC", [new OodResult("s", "in", "good", [0.1, 0.2], [0.3, 0.4]), new OodResult("s", "in", "broken", [0.1], [double.NaN])]);

        LegendTexts(plot).Should().Equal("chance (AUROC 0.5)", "good (AUROC 1.000)", "broken (AUROC n/a)");
        plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Should().ContainSingle();
    }

    [Fact]
    public void ImageGrid_LabelsRowsAndColumnsAndTitle()
    {
        var images = new float[6 * 4 * 4];
        var (plot, size) = Plots.BuildImageGrid("latents", images, 6, 4, 4, 3, ["image", "z", "z mean"], ["Fashion", "MNIST"]);

        plot.Axes.Title.Label.Text.Should().Be("latents");
        plot.GetImage(size.Width, size.Height).Dispose(); // ticks are generated when the plot is rendered
        plot.Axes.Top.TickGenerator.Ticks.Select(t => t.Label).Should().Equal("image", "z", "z mean");
        plot.Axes.Left.TickGenerator.Ticks.OrderByDescending(t => t.Position).Select(t => t.Label).Should().Equal(["Fashion", "MNIST"], "row 0 is at the top");
        size.Should().Be(Plots.GridSize(2, 3, rowLabels: true));
        var act = () => Plots.BuildImageGrid("x", images, 6, 4, 4, 3, ["one"], null);
        act.Should().Throw<ArgumentException>().WithParameterName("columnLabels");
    }

    [Fact]
    public void ImageGrid_TitleIsDrawnAboveTheImages()
    {
        // All images white: any dark pixel above the images is the title's or a column label's text.
        var images = Enumerable.Repeat(1f, 4 * 28 * 28).ToArray();
        var path = Path.Combine(folder, "titled");
        var (width, _) = Plots.ImageGrid(path, "A TITLE THAT MUST BE SEEN", images, 4, 28, 28, 4);

        using var bitmap = SkiaSharp.SKBitmap.Decode(path + ".png");
        var dark = Enumerable.Range(0, Plots.GridTop).Sum(y => Enumerable.Range(0, width).Count(x => bitmap.GetPixel(x, y).Red < 128));
        dark.Should().BeGreaterThan(100, "the title is drawn (it was not while the grid was frameless)");
    }
}
