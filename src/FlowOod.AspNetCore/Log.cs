using System;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>The service's log messages (source-generated): decisions at Debug, loads at Information, failures at Warning/Error.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Gate decision: label {Label} ({LabelName}), out-of-distribution {IsOutOfDistribution}, score {Score}, p-value {PValue}")]
    public static partial void Decision(ILogger logger, int label, string labelName, bool isOutOfDistribution, double score, double pValue);

    [LoggerMessage(2, LogLevel.Information, "Loaded gate {Path} (generation {Generation}): input {Shape}, {ClassCount} classes, α {Alpha}, threshold {Threshold}")]
    public static partial void GateLoaded(ILogger logger, string path, long generation, string shape, int classCount, double alpha, double threshold);

    [LoggerMessage(3, LogLevel.Error, "Could not load the changed gate file {Path}; still serving generation {Generation}")]
    public static partial void ReloadFailed(ILogger logger, Exception exception, string path, long generation);

    [LoggerMessage(4, LogLevel.Information, "Gate generation {Generation} retired; it is disposed once its last batch finishes")]
    public static partial void GateRetired(ILogger logger, long generation);

    [LoggerMessage(5, LogLevel.Error, "A batch of {Count} failed; scoring its requests one by one")]
    public static partial void BatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(6, LogLevel.Warning, "A request failed in the gate")]
    public static partial void RequestFailed(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Debug, "Refused a classify request with {StatusCode}: {Reason}")]
    public static partial void BadRequest(ILogger logger, int statusCode, string reason);

    [LoggerMessage(8, LogLevel.Warning, "The scoring queue was full ({Capacity} waiting): {Count} requests refused with 503 since the last such line (at most one every {IntervalSeconds} s; the metric flowood.gate.rejected counts every refusal)")]
    public static partial void QueueFull(ILogger logger, int capacity, long count, double intervalSeconds);

    [LoggerMessage(9, LogLevel.Information, "The scoring worker runs libtorch with {Threads} intra-op threads (as the application chose before the host started, or libtorch's default)")]
    public static partial void WorkerThreads(ILogger logger, int threads);

    [LoggerMessage(10, LogLevel.Warning, "The file watcher for {Path} failed; relying on the periodic check")]
    public static partial void WatcherFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(11, LogLevel.Information, "Gate file {Path} changed; loading it")]
    public static partial void ReloadStarted(ILogger logger, string path);

    [LoggerMessage(12, LogLevel.Information, "Stopping: the listeners are closed; draining {Open} open connections (answers carry Connection: close) for at most {Seconds} s")]
    public static partial void DrainStarted(ILogger logger, int open, double seconds);

    [LoggerMessage(13, LogLevel.Information, "Drain done after {Milliseconds:F0} ms; {Left} idle connections left to the server's stop")]
    public static partial void DrainFinished(ILogger logger, double milliseconds, int left);

    [LoggerMessage(14, LogLevel.Debug, "A classify request body was not complete after {Seconds} s (RequestBodyTimeout); answered 408 and closed the connection")]
    public static partial void BodyTimedOut(ILogger logger, double seconds);
}
