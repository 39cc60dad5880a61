using System;
using System.IO;
using System.Linq;
using FlowOod.Training;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

public sealed class TrainingCurveTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-curve-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Add_RecordsImagesSeenAndHeldOutOnlyWhenEvaluated()
    {
        var curve = new TrainingCurve("glow", batchSize: 64, heldOutDescription: "100 images");
        var forwarded = 0;
        var sink = curve.Recording(new SyncProgress<TrainingProgress>(_ => forwarded++));

        sink.Report(new TrainingProgress(1, 10, double.NaN, 0, TimeSpan.Zero));
        sink.Report(new TrainingProgress(5, 10, 6.5, 0, TimeSpan.Zero));
        sink.Report(new TrainingProgress(10, 10, 5.0, 0, TimeSpan.Zero, EvaluationLoss: 5.25));

        forwarded.Should().Be(3);
        curve.Training.Should().Equal((320.0, 6.5), (640.0, 5.0));
        curve.HeldOut.Should().Equal((640.0, 5.25));
        var files = curve.Write(folder, "glow");
        files.Should().Equal(Path.Combine(folder, "glow-training.png"), Path.Combine(folder, "glow-training.svg"));
        PlotTests.PngSize(files[0]).Should().Be((Plots.Width, Plots.Height));
        File.ReadAllText(files[1]).Should().Contain("held-out: 100 images, last 5.250").And.Contain("images seen");
    }

    [Theory]
    [InlineData(60_000, 20_000, 150, 64, 50_000, 288)]
    [InlineData(60_000, 50_000, 3000, 64, 50_000, 500)]
    [InlineData(60_000, 55_000, 3000, 64, 55_000, 500)]
    [InlineData(256, 128, 2, 64, 128, 64)]
    [InlineData(128, 128, 2, 64, 128, 0)]
    public void HeldOut_NeverOverlapsTheTrainingImagesAndStaysCheap(int available, int trained, int steps, int batch, int start, int count)
    {
        FlowCache.HeldOut(available, trained, steps, batch).Should().Be((start, count));
        TrainingCurve.EvaluationInterval(steps).Should().BeGreaterThanOrEqualTo(steps / 10);
    }
}
