namespace FlowOod.AspNetCore;

/// <summary>Names under which the gate service publishes its metrics (for OpenTelemetry's <c>AddMeter</c>).</summary>
/// <remarks>
/// Instruments of the meter <see cref="MeterName"/>: <c>flowood.gate.decisions</c> (counter, tag
/// <c>flowood.gate.verdict</c> = <c>in</c> | <c>out</c>), <c>flowood.gate.score</c> (histogram of OOD scores),
/// <c>flowood.gate.duration</c> (histogram, s: time from queueing a request to its answer, queue wait included),
/// <c>flowood.gate.batch.size</c> (histogram, requests per <c>Classify</c> call), <c>flowood.gate.queue.length</c>
/// (observable gauge), <c>flowood.gate.rejected</c> (counter, tag <c>flowood.gate.reason</c> = <c>queue_full</c>) and
/// <c>flowood.gate.reloads</c> (counter, tag <c>flowood.gate.outcome</c> = <c>success</c> | <c>failure</c>).
/// </remarks>
public static class FlowOodGateTelemetry
{
    /// <summary>The meter's name, <c>FlowOod.Gate</c>.</summary>
    public const string MeterName = "FlowOod.Gate";
}
