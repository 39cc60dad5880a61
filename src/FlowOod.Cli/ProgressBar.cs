using System;
using FlowOod.Training;

namespace FlowOod.Cli;

/// <summary>
/// A one-line progress bar on an interactive terminal; one plain line per 10% of the run when output is redirected
/// (CI logs).
/// </summary>
internal sealed class ProgressBar
{
    private const int Width = 30;
    private readonly bool interactive = !Console.IsOutputRedirected;
    private int lastDecile = -1;

    public void Report(TrainingProgress p)
    {
        var fraction = (double)p.Step / p.TotalSteps;
        var eta = p.Step > 0 ? TimeSpan.FromSeconds(p.Elapsed.TotalSeconds * (p.TotalSteps - p.Step) / p.Step) : TimeSpan.Zero;
        var text = $"step {p.Step,5}/{p.TotalSteps}  loss {p.Loss,6:F3} bits/dim  {p.ExamplesPerSecond,5:F0} img/s  eta {eta:mm\\:ss}";
        if (interactive)
        {
            var filled = (int)Math.Round(fraction * Width);
            Console.Write($"\r[{new string('#', filled)}{new string('.', Width - filled)}] {text}   ");
        }
        else
        {
            var decile = (int)(fraction * 10);
            if (decile != lastDecile)
            {
                lastDecile = decile;
                Console.WriteLine(text);
            }
        }
    }

    public void Finish()
    {
        if (interactive)
        {
            Console.WriteLine();
        }
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
