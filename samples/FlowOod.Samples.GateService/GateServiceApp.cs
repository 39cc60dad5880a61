using System;
using FlowOod.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using TorchSharp;

namespace FlowOod.Samples.GateService;

/// <summary>
/// The OOD-gated Fashion-MNIST classification service: <c>POST /classify</c> (PNG, 784 raw bytes or JSON),
/// <c>GET /health</c> (readiness: the gate's health check as JSON), <c>GET /health/live</c> (liveness), <c>GET /</c> (what is being served). Kestrel, the package's
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
        FlowOodRuntime.RetainFreedMemory(); // glibc keeps freed memory for the next request's tensors (getting-started §9)
        var app = builder.Build();
        GateModels.EnsureTrained(settings, app.Logger);

        app.MapFlowOodClassify("/classify");
        // Readiness: the gate's check as JSON (the package's default writer); 503 only when no gate can serve.
        app.MapHealthChecks("/health");

        // Liveness: runs no check, so it answers 200 while the process serves HTTP at all; a refused gate file or drift
        // must never get a serving process restarted.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = FlowOodHealthResponse.WriteAsync });
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
}
