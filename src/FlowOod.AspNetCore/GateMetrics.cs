using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace FlowOod.AspNetCore;

/// <summary>The gate's instruments (see <see cref="FlowOodGateTelemetry"/>), from a meter created by <see cref="IMeterFactory"/>.</summary>
internal sealed class GateMetrics
{
    private static readonly KeyValuePair<string, object?> In = new("flowood.gate.verdict", "in");
    private static readonly KeyValuePair<string, object?> Out = new("flowood.gate.verdict", "out");
    private readonly Counter<long> decisions;
    private readonly Histogram<double> score;
    private readonly Histogram<double> duration;
    private readonly Histogram<int> batchSize;
    private readonly Counter<long> rejected;
    private readonly Counter<long> reloads;
    private Func<int> queueLength = () => 0;

    public GateMetrics(IMeterFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var meter = factory.Create(FlowOodGateTelemetry.MeterName);
        decisions = meter.CreateCounter<long>("flowood.gate.decisions", "{decision}", "Gate decisions, by verdict (in = accepted, out = refused as out-of-distribution).");
        score = meter.CreateHistogram<double>("flowood.gate.score", null, "OOD scores of the gate's decisions (higher = more out-of-distribution).");
        duration = meter.CreateHistogram<double>("flowood.gate.duration", "s", "Time from queueing a request to its decision, queue wait included.");
        batchSize = meter.CreateHistogram<int>("flowood.gate.batch.size", "{request}", "Requests scored per Classify call.");
        rejected = meter.CreateCounter<long>("flowood.gate.rejected", "{request}", "Requests refused before scoring, by reason.");
        reloads = meter.CreateCounter<long>("flowood.gate.reloads", "{reload}", "Gate file reloads, by outcome.");
        meter.CreateObservableGauge("flowood.gate.queue.length", () => queueLength(), "{request}", "Requests waiting for the scoring worker.");
    }

    public void ObserveQueue(Func<int> length) => queueLength = length;

    public void Decision(bool outOfDistribution, double value, double seconds)
    {
        decisions.Add(1, outOfDistribution ? Out : In);
        if (double.IsFinite(value))
        {
            score.Record(value);
        }

        duration.Record(seconds);
    }

    public void Batch(int size) => batchSize.Record(size);

    public void QueueFull() => rejected.Add(1, new KeyValuePair<string, object?>("flowood.gate.reason", "queue_full"));

    public void Reload(bool success) => reloads.Add(1, new KeyValuePair<string, object?>("flowood.gate.outcome", success ? "success" : "failure"));
}
