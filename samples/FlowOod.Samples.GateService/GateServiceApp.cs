using System;
using System.Linq;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using TorchSharp;

namespace FlowOod.Samples.GateService;

/// <summary>
/// The OOD-gated Fashion-MNIST classification service: <c>POST /classify</c> (PNG, 784 raw bytes or JSON),
/// <c>GET /health</c> (the gate's health check as JSON), <c>GET /</c> (what is being served). Kestrel, the package's
/// micro-batching worker, hot reload of <c>gate.flowood</c>, OpenTelemetry metrics on the console.
/// </summary>
public static class GateServiceApp
{
    /// <summary>
    /// Builds the service: reads the settings (appsettings.json, environment, command line), sets libtorch's thread count
    /// for the process (the application's decision; the library never does), trains or loads the models, maps the
    /// endpoints. Start it with <c>RunAsync</c>/<c>StartAsync</c>.
    /// </summary>
    /// <param name="args">Command-line arguments: ASP.NET Core's (<c>--urls</c>, <c>--FlowOod:Gate:MaxBatchSize 1</c>, ...)
    /// and the switches of <see cref="GateServiceSettings.Switches"/>.</param>
    /// <param name="configure">Last changes to the builder (tests and benchmarks: logging, settings).</param>
    /// <returns>The application, not started.</returns>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, GateServiceSettings.Switches);
        configure?.Invoke(builder);
        var settings = builder.Configuration.GetSection(GateServiceSettings.Section).Get<GateServiceSettings>() ?? new GateServiceSettings();
        settings.Validate();
        builder.Services.AddSingleton(settings);

        builder.Services.AddFlowOodGate(builder.Configuration.GetSection("FlowOod:Gate"), o =>
        {
            if (string.IsNullOrEmpty(o.GatePath))
            {
                o.GatePath = settings.GatePath;
            }

            o.ClassifierFactory = _ => GateModels.LoadClassifier(settings.ClassifierPath);
        });
        if (settings.MetricsIntervalSeconds > 0)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(FlowOodGateTelemetry.MeterName)
                .AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = settings.MetricsIntervalSeconds * 1000));
        }

        // Process-wide and set once, before any libtorch work: the scoring worker is the only thread running libtorch.
        torch.set_num_threads(settings.Threads);
        var app = builder.Build();
        GateModels.EnsureTrained(settings, app.Logger);

        app.MapFlowOodClassify("/classify");
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        app.MapGet("/", (IOodGateClassifier gate) => Results.Json(new
        {
            service = "FlowOod gate: Fashion-MNIST classifier with an out-of-distribution verdict",
            classify = "POST /classify with image/png (28x28 greyscale), application/octet-stream (784 bytes) or application/json {\"pixels\": [784 values 0..255]}",
            gate = new
            {
                gate.Gate.Path,
                gate.Gate.InputShape,
                gate.Gate.ClassNames,
                alpha = gate.Gate.TargetFalsePositiveRate,
                gate.Gate.Threshold,
                gate.Gate.Generation,
                gate.Gate.LoadedAt,
            },
            torchThreads = torch.get_num_threads(),
        }));
        return app;
    }

    // {"status": "Healthy", "checks": {"flowood-gate": {"status", "description", "data": {...}}}}
    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
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
