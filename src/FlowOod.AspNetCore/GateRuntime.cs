using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Gating;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlowOod.AspNetCore;

/// <summary>
/// A FlowOod service (the gate, or the embedding detector through the same <see cref="IGateModel"/> seam): the serving model (<see cref="GateHost"/>), the scoring worker (<see cref="MicroBatcher"/>), the
/// reload watcher and the drift window, started and stopped with the host by <see cref="GateHostedService"/>.
/// </summary>
internal sealed class GateRuntime : IOodGateClassifier, IDisposable
{
    private readonly Func<IGateModelLoader> createLoader;
    private readonly Action? beforeStart;
    private readonly Action? onDispose;
    private readonly ILogger logger;
    private readonly Lock startLock = new();
    private GateHost? host;
    private MicroBatcher? batcher;
    private GateFileWatcher? watcher;
    private InputLayout? layout;
    private bool disposed;

    /// <param name="options">The validated options.</param>
    /// <param name="createLoader">Called once, at start: makes the loader (the shipped one resolves the classifier).</param>
    /// <param name="loggerFactory">Loggers.</param>
    /// <param name="metrics">Instruments, or null.</param>
    /// <param name="beforeStart">Runs first at start (the shipped one sets libtorch's threads when configured).</param>
    /// <param name="onDispose">Runs last at dispose (the shipped one disposes a classifier made by the factory).</param>
    public GateRuntime(FlowOodServingOptions options, Func<IGateModelLoader> createLoader, ILoggerFactory? loggerFactory = null, GateMetrics? metrics = null, Action? beforeStart = null, Action? onDispose = null)
    {
        Options = options;
        this.createLoader = createLoader;
        this.beforeStart = beforeStart;
        this.onDispose = onDispose;
        Metrics = metrics;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        logger = LoggerFactory.CreateLogger<GateRuntime>();
        Drift = new DriftMonitor(options.DriftWindow, options.DriftAlarmZ);
    }

    public FlowOodServingOptions Options { get; }

    public ILoggerFactory LoggerFactory { get; }

    public GateMetrics? Metrics { get; }

    public DriftMonitor Drift { get; }

    /// <summary>The serving gate's holder, or null before start.</summary>
    public GateHost? Host => Volatile.Read(ref host);

    public GateInfo Gate => Host?.Info ?? throw NotStarted();

    /// <summary>The parsers' view of the input shape (fixed for the life of the service: reloads keep it).</summary>
    public InputLayout Layout => Volatile.Read(ref layout) ?? throw NotStarted();

    public int QueueLength => Volatile.Read(ref batcher)?.QueueLength ?? 0;

    public void Start()
    {
        lock (startLock)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (host is not null)
            {
                return;
            }

            beforeStart?.Invoke();
            var gateHost = new GateHost(Options.ModelPath, createLoader(), LoggerFactory.CreateLogger<GateHost>(), Metrics);
            gateHost.Loaded += g => Drift.Reset(g.TargetFalsePositiveRate);
            try
            {
                var info = gateHost.LoadInitial();
                layout = new InputLayout(info.InputShape.ToArray());
            }
            catch
            {
                gateHost.Dispose();
                throw;
            }

            var work = new MicroBatcher(
                gateHost, new BatcherSettings(Options.MaxBatchSize, Options.MaxBatchDelay, Options.MaxQueueLength), LoggerFactory.CreateLogger<MicroBatcher>(), Drift, Metrics);
            Metrics?.ObserveQueue(() => work.QueueLength);
            work.Start();
            batcher = work;
            if (Options.ReloadOnChange)
            {
                watcher = new GateFileWatcher(gateHost, Options.ReloadCheckInterval, LoggerFactory.CreateLogger<GateFileWatcher>());
                watcher.Start();
            }

            Volatile.Write(ref host, gateHost);
        }
    }

    /// <summary>Stops watching and scoring (requests still queued fail); the gate stays loaded until dispose.</summary>
    public void Stop()
    {
        lock (startLock)
        {
            watcher?.Dispose();
            watcher = null;
            batcher?.Stop();
        }
    }

    public ValueTask<GateDecision> ClassifyAsync(ReadOnlyMemory<float> input, CancellationToken cancellationToken = default)
    {
        var shape = Layout;
        if (input.Length != shape.Length)
        {
            throw new ArgumentException($"The input has {input.Length} values; the gate takes {shape.Length} ({shape.Describe()}).", nameof(input));
        }

        var span = input.Span;
        for (int i = 0; i < span.Length; i++)
        {
            if (!float.IsFinite(span[i]))
            {
                throw new ArgumentException($"Input value {i} is {span[i]}; the gate takes finite values.", nameof(input));
            }
        }

        return EnqueueOwned(input.ToArray(), cancellationToken);
    }

    /// <summary>Queues an input the caller hands over (already checked: right length, finite).</summary>
    public ValueTask<GateDecision> EnqueueOwned(float[] input, CancellationToken cancellationToken)
    {
        var work = Volatile.Read(ref batcher) ?? throw NotStarted();
        return new ValueTask<GateDecision>(work.EnqueueAsync(input, cancellationToken));
    }

    public void Dispose()
    {
        lock (startLock)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
        }

        Stop();
        host?.Dispose();
        onDispose?.Invoke();
    }

    private static InvalidOperationException NotStarted() =>
        new("The FlowOod service has not started: it loads its model when the host starts (AddFlowOodGate or AddFlowOodEmbeddingDetector registers the hosted service).");
}
