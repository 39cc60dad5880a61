using System;
using System.Globalization;
using FlowOod.Training;
using Spectre.Console;

namespace FlowOod.Cli;

/// <summary>
/// Shows a training run: a Spectre.Console progress bar (steps, loss, images/s, time left) on an interactive terminal;
/// one plain line per 10% of the run otherwise, so CI logs stay short and readable.
/// </summary>
internal static class TrainingDisplay
{
    /// <summary>Runs <paramref name="train"/>, handing it the progress sink, and returns its result.</summary>
    public static T Run<T>(IAnsiConsole console, bool plain, string what, Func<IProgress<TrainingProgress>, T> train)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(train);
        if (plain)
        {
            var lastDecile = -1;
            return train(new SyncProgress<TrainingProgress>(p =>
            {
                var decile = p.TotalSteps > 0 ? 10 * p.Step / p.TotalSteps : 10;
                if (decile != lastDecile)
                {
                    lastDecile = decile;
                    console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{what}: step {p.Step}/{p.TotalSteps}, loss {p.Loss:F3} bits/dim, {p.ExamplesPerSecond:F0} images/s"));
                }
            }));
        }

        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(what));
                result = train(new SyncProgress<TrainingProgress>(p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{what}  loss {p.Loss:F3} bits/dim  {p.ExamplesPerSecond:F0} img/s"));
                }));
                task.Value = task.MaxValue;
            });
        return result;
    }
}
