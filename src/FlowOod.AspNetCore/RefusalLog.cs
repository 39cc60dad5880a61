using System;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>
/// Logs queue-full refusals as a count, at most one line per <see cref="Interval"/>: a client controls how many requests
/// are refused, so one line per refusal would let it control the log volume too. The first refusal after a quiet interval
/// is logged at once (with the count since the last line); the rest wait for the next refusal after the interval, or
/// <see cref="Flush"/> when the worker stops. Every refusal is also counted by the <c>flowood.gate.rejected</c> metric.
/// </summary>
internal sealed class RefusalLog(ILogger logger, int capacity, TimeProvider? time = null)
{
    /// <summary>The shortest time between two lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly TimeProvider clock = time ?? TimeProvider.System;
    private long unreported;
    private long nextLine = long.MinValue;

    public void Refused()
    {
        Interlocked.Increment(ref unreported);
        long now = clock.GetTimestamp();
        long due = Interlocked.Read(ref nextLine);
        if (now >= due && Interlocked.CompareExchange(ref nextLine, now + (long)(Interval.TotalSeconds * clock.TimestampFrequency), due) == due)
        {
            Flush();
        }
    }

    /// <summary>Logs the refusals not yet reported, if any.</summary>
    public void Flush()
    {
        long count = Interlocked.Exchange(ref unreported, 0);
        if (count > 0)
        {
            Log.QueueFull(logger, capacity, count, Interval.TotalSeconds);
        }
    }
}
