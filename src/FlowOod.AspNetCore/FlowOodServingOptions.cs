using System;

namespace FlowOod.AspNetCore;

/// <summary>
/// The serving settings shared by the gate service (<see cref="FlowOodGateOptions"/>) and the embedding-detector service
/// (<see cref="FlowOodEmbeddingOptions"/>): micro-batching, request limits, drift alarm, reload and shutdown drain.
/// </summary>
public abstract class FlowOodServingOptions
{
    private protected FlowOodServingOptions()
    {
    }

    /// <summary>Overrides the model file's target false-positive rate α, in (0, 1): the threshold is recomputed from the
    /// stored calibration scores. Default null: the α stored in the file.</summary>
    public double? TargetFalsePositiveRate { get; set; }

    /// <summary>The most queued requests scored in one call of the model (micro-batch cap), 1 … 4096.
    /// Default 32.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>How long the scoring worker waits for more requests to fill a batch after the first one arrives,
    /// 0 … 1 s. It never waits when the queue already holds a full batch. Default 0: take what is queued and go; under
    /// load the queue refills while a batch is scored, so batches form without waiting, and a lone client pays no delay
    /// (measured: at 1, 8 and 32 loopback clients, 0 gave equal or higher requests/s than 2 ms; docs/performance.md).</summary>
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.Zero;

    /// <summary>The largest request body the endpoint reads, in bytes, 1 … 64 MiB; larger bodies get 413 (checked
    /// while reading: no more than this is ever buffered). Default 256 KiB.</summary>
    public int MaxRequestBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The most time the endpoint spends receiving one request body, 100 ms … 10 min; a body not complete by then
    /// gets 408 Request Timeout and the connection is closed. Kestrel's minimum data rate (240 B/s) alone lets a client
    /// trickling just above it hold a connection for about 18 minutes at the 256 KiB body limit; this deadline bounds the
    /// whole body, however it is paced. Request headers are bounded by Kestrel's own <c>RequestHeadersTimeout</c>.
    /// Default 30 s.
    /// </summary>
    public TimeSpan RequestBodyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the server drains its connections when the host stops (SIGTERM, Ctrl+C, <c>StopApplication</c>), 0 … 5 min:
    /// the listening sockets close at once (new connections are refused), requests on open connections are still answered,
    /// each answer carries <c>Connection: close</c>, and the host goes on stopping when every connection has closed or this
    /// time has passed. 0 turns the drain off (Kestrel's own stop closes idle keep-alive connections at once, so a request
    /// a client sends on one at that moment is lost). Needs Kestrel's socket transport registered before
    /// <c>AddFlowOodGate</c> or <c>AddFlowOodEmbeddingDetector</c> is called (as <c>WebApplication.CreateBuilder</c> does). Keep it below the host's
    /// <c>ShutdownTimeout</c> (30 s by default) and the orchestrator's grace period. Default 5 s.
    /// </summary>
    public TimeSpan ShutdownDrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most requests waiting for the scoring worker, 1 … 1,000,000; a request arriving at a full queue is
    /// refused at once (<see cref="GateOverloadedException"/>, HTTP 503). Default 256.</summary>
    public int MaxQueueLength { get; set; } = 256;

    /// <summary>W, the number of most recent decisions over which the health check measures the OOD rate for its drift
    /// alarm, 10 … 1,000,000 (see <see cref="DriftAlarmZ"/>). Default 1000.</summary>
    public int DriftWindow { get; set; } = 1000;

    /// <summary>
    /// z, the margin of the drift alarm in standard errors, 0 &lt; z ≤ 10: the health check reports Degraded when the OOD
    /// rate over the last W decisions exceeds α + z·√(α(1 − α)/W). Default 3.09, a one-sided false-alarm probability of
    /// about 0.001 per check under in-distribution traffic (normal approximation of Binomial(W, α); see
    /// <see cref="FlowOodServiceCollectionExtensions"/> remarks).
    /// </summary>
    public double DriftAlarmZ { get; set; } = 3.09;

    /// <summary>Whether a new model file (the gate or detector path) is loaded while serving (file watcher plus a periodic
    /// check of the file's time stamp and length). Default true.</summary>
    public bool ReloadOnChange { get; set; } = true;

    /// <summary>How often the file's time stamp and length are checked when <see cref="ReloadOnChange"/> is on (the fallback
    /// for file systems whose change events are lost), 100 ms … 1 h. Default 5 s.</summary>
    public TimeSpan ReloadCheckInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The model file the service loads (and reloads).</summary>
    internal abstract string ModelPath { get; }

    /// <summary>The options' name in validation messages.</summary>
    internal abstract string Section { get; }
}
