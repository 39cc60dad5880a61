using System;
using System.Buffers;
using System.Linq;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FlowOod.AspNetCore;

/// <summary>
/// The health endpoint's JSON answer: <c>{"status": "Healthy", "checks": {"flowood-gate": {"status", "description",
/// "data": {...}}}}</c>. <see cref="FlowOodServiceCollectionExtensions.AddFlowOodGate(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{FlowOodGateOptions})"/>
/// makes it the default writer of <c>app.MapHealthChecks(path)</c> (the endpoints mapped without their own
/// <c>HealthCheckOptions</c>); pass it as <c>HealthCheckOptions.ResponseWriter</c> to endpoints mapped with options.
/// </summary>
public static class FlowOodHealthResponse
{
    // Answers are application/json, never embedded in HTML: keep ', ≤, α, √ readable instead of \u-escaping them.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes <paramref name="report"/> as JSON (the status code is set by the health-check middleware:
    /// 200 for Healthy and Degraded, 503 for Unhealthy).</summary>
    /// <param name="context">The request's context.</param>
    /// <param name="report">The report of the checks the endpoint ran.</param>
    /// <returns>The write.</returns>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "application/json; charset=utf-8";
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("status", report.Status.ToString());
            writer.WriteStartObject("checks");
            foreach (var (name, entry) in report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject(name);
                writer.WriteString("status", entry.Status.ToString());
                writer.WriteString("description", entry.Description);
                writer.WriteStartObject("data");
                foreach (var (key, value) in entry.Data)
                {
                    writer.WritePropertyName(key);
                    JsonSerializer.Serialize(writer, value);
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
    }
}
