using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Persistence;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FlowOod.AspNetCore;

/// <summary>
/// The gate's health, for a readiness probe: Unhealthy (HTTP 503) only when the service cannot serve, i.e. no gate is
/// loaded; Degraded (HTTP 200: it serves correctly, someone should look) when the gate file on disk is missing, fails its
/// checksum or is not a gate file (<see cref="ModelFile.ReadInfo"/>, re-verified whenever the file's length or time stamp
/// changes) while the last good gate keeps serving, when a changed file could not be loaded, or when the drift alarm is on
/// (<see cref="DriftMonitor"/>: OOD rate over the last W decisions above α + z·√(α(1 − α)/W)); Healthy otherwise,
/// "warming up" while fewer than W decisions have been made. The data holds the rate, α, W, z and the alarm rate, and
/// <c>fileError</c>/<c>reloadError</c> when the file was refused.
/// </summary>
internal sealed class FlowOodGateHealthCheck(GateRuntime runtime, string kind = "gate", string noun = "gate") : IHealthCheck
{
    /// <summary>The health check of the embedding-detector service: the same checks on its runtime and file kind.</summary>
    public static FlowOodGateHealthCheck ForEmbeddings(GateRuntime runtime) => new(runtime, FlowOod.Embeddings.EmbeddingDetector.FileKind, "embedding detector");

    private readonly Lock cacheLock = new();
    private (FileStamp Stamp, string? Error) verified;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Check());

    private HealthCheckResult Check()
    {
        var options = runtime.Options;
        var path = options.ModelPath;
        var data = new Dictionary<string, object> { ["path"] = path };
        var stamp = FileStamp.Of(path);
        string? fileError = stamp is null ? $"The {noun} file '{path}' is missing." : Verify(path, stamp.Value) is { } error ? $"The {noun} file '{path}' fails verification: {error}" : null;
        var host = runtime.Host;
        if (host?.Info is not { } gate)
        {
            return HealthCheckResult.Unhealthy(fileError ?? $"No {noun} is loaded (the service has not started, or the start failed).", data: data);
        }

        var drift = runtime.Drift.Snapshot();
        data["generation"] = gate.Generation;
        data["loadedAt"] = gate.LoadedAt;
        data["alpha"] = drift.Alpha;
        data["window"] = drift.Window;
        data["decisions"] = drift.Decisions;
        data["oodCount"] = drift.OutOfDistribution;
        data["oodRate"] = drift.Rate;
        data["z"] = drift.Z;
        data["alarmRate"] = drift.AlarmRate;
        if (fileError is not null)
        {
            data["fileError"] = fileError;
            return HealthCheckResult.Degraded(
                $"{fileError} Generation {gate.Generation}, loaded before, still serves; replace the file with a good one (a restart would fail until then).", data: data);
        }

        if (host.LastReloadError is { } reload)
        {
            data["reloadError"] = reload;
            return HealthCheckResult.Degraded($"The {noun} file changed but could not be loaded ({reload}); generation {gate.Generation} still serves.", data: data);
        }

        if (drift.IsDrifting)
        {
            return HealthCheckResult.Degraded(
                FormattableString.Invariant($"Drift: {drift.OutOfDistribution} of the last {drift.Window} inputs refused as out-of-distribution (rate {drift.Rate:F4}), above the alarm rate {drift.AlarmRate:F4} = α {drift.Alpha:G4} + {drift.Z:G3}·√(α(1−α)/W)."),
                data: data);
        }

        return HealthCheckResult.Healthy(
            drift.IsWarmingUp
                ? FormattableString.Invariant($"Warming up: {drift.Decisions} of {drift.Window} decisions for the drift check.")
                : FormattableString.Invariant($"OOD rate {drift.Rate:F4} over the last {drift.Window} decisions (alarm above {drift.AlarmRate:F4})."),
            data);
    }

    private string? Verify(string path, FileStamp stamp)
    {
        lock (cacheLock)
        {
            if (verified.Stamp == stamp)
            {
                return verified.Error;
            }
        }

        string? error;
        try
        {
            var info = ModelFile.ReadInfo(path);
            error = info.Kind == kind ? null : $"it holds a {info.Kind}, not a {kind}.";
        }
        catch (ModelFormatException e)
        {
            error = e.Message;
        }
        catch (IOException e)
        {
            error = e.Message;
        }
        catch (UnauthorizedAccessException e)
        {
            error = e.Message;
        }

        lock (cacheLock)
        {
            verified = (stamp, error);
        }

        return error;
    }
}
