using System;
using System.Linq;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.AspNetCore;

/// <summary>Registers the FlowOod gate service and the embedding-detector service.</summary>
/// <remarks>
/// <para><b>What is registered.</b> <see cref="FlowOodGateOptions"/> (options pattern, validated when the host starts
/// with one message per bad setting), <see cref="IOodGateClassifier"/> (singleton), a hosted service that loads the gate
/// when the host starts (a missing or bad gate file fails the start) and stops the worker when it stops, the health
/// check <c>"flowood-gate"</c> (tag <c>flowood</c>; map it with <c>app.MapHealthChecks("/health")</c>, which then answers
/// JSON through <see cref="FlowOodHealthResponse"/>) and the meter <see cref="FlowOodGateTelemetry.MeterName"/> through
/// <c>IMeterFactory</c>. It also decorates Kestrel's transport (registered before this call, as
/// <c>WebApplication.CreateBuilder</c> does) and adds a first middleware, for the shutdown drain of
/// <see cref="FlowOodServingOptions.ShutdownDrainTimeout"/>.</para>
/// <para><b>Threading model.</b> One scoring worker (a dedicated thread) runs libtorch for all requests, one batch at a
/// time. Requests go into a bounded queue (<see cref="FlowOodServingOptions.MaxQueueLength"/>; a full queue refuses at once
/// with <see cref="GateOverloadedException"/>, HTTP 503); the worker takes the first waiting request, waits at most
/// <see cref="FlowOodServingOptions.MaxBatchDelay"/> for more, scores up to <see cref="FlowOodServingOptions.MaxBatchSize"/>
/// of them in one <c>OodGate.Classify</c> call and completes each request's task. Why: two multi-threaded libtorch
/// computations on the same cores run 6–25× slower than one (OpenMP threads spin while they wait), so per-request
/// parallelism collapses when clients outnumber cores, while one batch of N costs far less than N forwards of one.
/// Queued requests can be cancelled (the client's token, the request's abort); the gate's answers do not depend on the
/// batch (batch and single calls agree bit for bit). Gate reloads load on a background task, off the request path.</para>
/// <para><b>Drift alarm.</b> Under in-distribution traffic the number of refusals among W decisions is at most
/// Binomial(W, α) (the gate's conformal guarantee), with standard deviation √(Wα(1 − α)). The health check reports
/// Degraded when the OOD rate over the last W = <see cref="FlowOodServingOptions.DriftWindow"/> decisions exceeds
/// α + z·√(α(1 − α)/W), z = <see cref="FlowOodServingOptions.DriftAlarmZ"/> = 3.09 by default: a one-sided false-alarm
/// probability of about 0.001 per check (normal approximation; choose W with Wα(1 − α) ≳ 10, e.g. W ≥ 250 at α = 0.05).
/// It is "warming up" (Healthy) until W decisions have been made since the gate was loaded.</para>
/// </remarks>
public static class FlowOodServiceCollectionExtensions
{
    /// <summary>Adds the gate service with options bound from a configuration section (e.g. <c>FlowOod:Gate</c>).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are <see cref="FlowOodGateOptions"/> property names.</param>
    /// <param name="configure">Further settings in code, applied after binding (e.g. <see cref="FlowOodGateOptions.ClassifierFactory"/>).</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddFlowOodGate(this IServiceCollection services, IConfiguration configuration, Action<FlowOodGateOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddOptions<FlowOodGateOptions>().Bind(configuration);
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        return AddCore(services);
    }

    /// <summary>Adds the gate service with options set in code.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (at least <see cref="FlowOodGateOptions.GatePath"/>).</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddFlowOodGate(this IServiceCollection services, Action<FlowOodGateOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<FlowOodGateOptions>().Configure(configure);
        return AddCore(services);
    }

    /// <summary>
    /// Adds the embedding-detector service with options bound from a configuration section (e.g. <c>FlowOod:Embeddings</c>):
    /// an <see cref="FlowOod.Embeddings.EmbeddingDetector"/> file served by <see cref="FlowOodEndpointRouteBuilderExtensions.MapFlowOodEmbeddings"/>,
    /// with the gate's machinery (one micro-batching scoring worker, bounded queue, hot reload, drift alarm, the health
    /// check <c>"flowood-embeddings"</c>, shutdown drain). No classifier and no code are needed: the file holds everything.
    /// It can be registered beside <see cref="AddFlowOodGate(IServiceCollection, Action{FlowOodGateOptions})"/>; each has
    /// its own worker, queue and drift window.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section whose keys are <see cref="FlowOodEmbeddingOptions"/> property names.</param>
    /// <param name="configure">Further settings in code, applied after binding.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddFlowOodEmbeddingDetector(this IServiceCollection services, IConfiguration configuration, Action<FlowOodEmbeddingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddOptions<FlowOodEmbeddingOptions>().Bind(configuration);
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        return AddEmbeddingCore(services);
    }

    /// <summary>Adds the embedding-detector service with options set in code (see the overload with configuration).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (at least <see cref="FlowOodEmbeddingOptions.DetectorPath"/>).</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddFlowOodEmbeddingDetector(this IServiceCollection services, Action<FlowOodEmbeddingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<FlowOodEmbeddingOptions>().Configure(configure);
        return AddEmbeddingCore(services);
    }

    private static IServiceCollection AddCore(IServiceCollection services)
    {
        services.AddOptions<FlowOodGateOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FlowOodGateOptions>, FlowOodGateOptionsValidator>());
        if (services.Any(d => d.ServiceType == typeof(GateRuntime)))
        {
            return services; // a second call only adds its option settings
        }

        AddShared(services);
        services.AddSingleton(CreateRuntime);
        services.AddSingleton<IOodGateClassifier>(sp => sp.GetRequiredService<GateRuntime>());
        services.AddSingleton<IHostedService, GateHostedService>();
        services.AddHealthChecks().AddCheck<FlowOodGateHealthCheck>("flowood-gate", HealthStatus.Unhealthy, ["flowood"]);
        return services;
    }

    private static IServiceCollection AddEmbeddingCore(IServiceCollection services)
    {
        services.AddOptions<FlowOodEmbeddingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FlowOodEmbeddingOptions>, FlowOodEmbeddingOptionsValidator>());
        if (services.Any(d => d.ServiceType == typeof(EmbeddingRuntime)))
        {
            return services; // a second call only adds its option settings
        }

        AddShared(services);
        services.AddSingleton(CreateEmbeddingRuntime);
        services.AddSingleton<IHostedService>(sp => new GateHostedService(sp.GetRequiredService<EmbeddingRuntime>().Runtime, sp.GetRequiredService<ConnectionDrain>()));
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            "flowood-embeddings", sp => FlowOodGateHealthCheck.ForEmbeddings(sp.GetRequiredService<EmbeddingRuntime>().Runtime), HealthStatus.Unhealthy, ["flowood"]));
        return services;
    }

    // What the gate and the embedding services share, registered once: metrics, logging, the shutdown drain and the JSON
    // health answer (the default writer of every MapHealthChecks endpoint mapped without its own options).
    private static void AddShared(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ConnectionDrain)))
        {
            return;
        }

        services.AddMetrics();
        services.AddLogging();
        services.AddSingleton<ConnectionDrain>();
        services.AddSingleton<IStartupFilter, DrainStartupFilter>();
        ConnectionDrain.DecorateTransports(services);
        services.Configure<HealthCheckOptions>(o => o.ResponseWriter = FlowOodHealthResponse.WriteAsync);
    }

    // The embedding runtime: the detector file needs no classifier; instruments are the gate's only (metrics null).
    private static EmbeddingRuntime CreateEmbeddingRuntime(IServiceProvider provider)
    {
        var options = provider.GetRequiredService<IOptions<FlowOodEmbeddingOptions>>().Value;
        var loggers = provider.GetRequiredService<ILoggerFactory>();
        var startLogger = loggers.CreateLogger<GateRuntime>();
        return new EmbeddingRuntime(new GateRuntime(
            options,
            () => new EmbeddingDetectorModelLoader(options.LoadOptions, options.TargetFalsePositiveRate),
            loggers,
            metrics: null,
            beforeStart: () =>
            {
                FlowOodRuntime.EnsureAvailable();
                Log.WorkerThreads(startLogger, torch.get_num_threads());
            }));
    }

    private static GateRuntime CreateRuntime(IServiceProvider provider)
    {
        var options = provider.GetRequiredService<IOptions<FlowOodGateOptions>>().Value;
        var loggers = provider.GetRequiredService<ILoggerFactory>();
        var metrics = new GateMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        nn.Module<Tensor, Tensor>? owned = null;
        var startLogger = loggers.CreateLogger<GateRuntime>();
        return new GateRuntime(
            options,
            () =>
            {
                nn.Module<Tensor, Tensor> classifier;
                if (options.ClassifierFactory is { } factory)
                {
                    classifier = owned = factory(provider) ?? throw new InvalidOperationException("FlowOodGateOptions.ClassifierFactory returned null.");
                }
                else
                {
                    classifier = provider.GetRequiredService<nn.Module<Tensor, Tensor>>();
                }

                var load = (options.LoadOptions ?? new FlowOod.Gating.GateLoadOptions()) with
                {
                    TargetFalsePositiveRate = options.TargetFalsePositiveRate ?? options.LoadOptions?.TargetFalsePositiveRate,
                };
                return new OodGateModelLoader(classifier, load);
            },
            loggers,
            metrics,
            beforeStart: () =>
            {
                FlowOodRuntime.EnsureAvailable();
                Log.WorkerThreads(startLogger, torch.get_num_threads());
            },
            onDispose: () => owned?.Dispose());
    }
}
