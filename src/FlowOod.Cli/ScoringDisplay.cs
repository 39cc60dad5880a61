using System;
using System.Globalization;
using FlowOod.Data;
using FlowOod.Scoring;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>
/// Scores a slice of a dataset chunk by chunk and shows the progress: a Spectre.Console bar on an interactive terminal,
/// one plain line per chunk otherwise (CI logs).
/// </summary>
internal static class ScoringDisplay
{
    /// <summary>Images converted and scored at once.</summary>
    public const int ChunkSize = 500;

    /// <summary>The scores of images <paramref name="start"/> .. <paramref name="start"/> + <paramref name="count"/> − 1.</summary>
    public static double[] Score(IAnsiConsole console, bool plain, string what, IOodScorer scorer, ImageDataset data, int start, int count)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(data);
        if (start < 0 || count < 0 || start + count > data.Count)
        {
            throw new ArgumentException($"{what}: images {start}..{start + count - 1} are not all in '{data.Name}' ({data.Count} images).", nameof(count));
        }

        var scores = new double[count];
        if (plain)
        {
            Run(scores, scorer, data, start, count, done => console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {done}/{count} images scored")));
            return scores;
        }

        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(what), maxValue: Math.Max(count, 1));
                Run(scores, scorer, data, start, count, done => task.Value = done);
                task.Value = task.MaxValue;
            });
        return scores;
    }

    private static void Run(double[] scores, IOodScorer scorer, ImageDataset data, int start, int count, Action<int> reportDone)
    {
        for (var offset = 0; offset < count; offset += ChunkSize)
        {
            var length = Math.Min(ChunkSize, count - offset);
            using var images = data.ToTensor(start + offset, length);
            scorer.Score(images).CopyTo(scores, offset);
            reportDone(offset + length);
        }
    }
}
