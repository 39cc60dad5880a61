using System;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>A gate file's identity as the reload check sees it: length and last write time.</summary>
internal readonly record struct FileStamp(long Length, DateTime LastWriteUtc)
{
    public static FileStamp? Of(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// Holds the gate serving requests (a <see cref="RefCounted{T}"/>) and swaps in reloaded ones. A reload loads the new
/// file completely before the swap; when loading fails (bad file, another classifier's gate, another input shape) the
/// old gate keeps serving and the failure is logged and kept for the health check. The swapped-out gate is retired:
/// batches holding a lease finish on it and the last one disposes it.
/// </summary>
internal sealed class GateHost : IDisposable
{
    private readonly IGateModelLoader loader;
    private readonly ILogger logger;
    private readonly GateMetrics? metrics;
    private readonly TimeProvider time;
    private readonly Lock reloadLock = new();
    private RefCounted<IGateModel>? current;
    private GateInfo? info;
    private FileStamp? attempted;
    private string? lastError;
    private bool disposed;

    public GateHost(string path, IGateModelLoader loader, ILogger logger, GateMetrics? metrics = null, TimeProvider? time = null)
    {
        Path = path;
        this.loader = loader;
        this.logger = logger;
        this.metrics = metrics;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>Raised after a gate (the first or a reloaded one) starts serving.</summary>
    public event Action<GateInfo>? Loaded;

    public string Path { get; }

    /// <summary>The gate serving now, or null before <see cref="LoadInitial"/>.</summary>
    public GateInfo? Info => Volatile.Read(ref info);

    /// <summary>The message of the last failed reload of the current file version, or null.</summary>
    public string? LastReloadError => Volatile.Read(ref lastError);

    /// <summary>The stamp of the file version last tried (loaded or failed).</summary>
    public FileStamp? AttemptedStamp
    {
        get
        {
            lock (reloadLock)
            {
                return attempted;
            }
        }
    }

    /// <summary>Loads the gate at start; throws (with the loader's message) when it cannot.</summary>
    public GateInfo LoadInitial()
    {
        lock (reloadLock)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            attempted = FileStamp.Of(Path);
            var model = loader.Load(Path);
            return Install(model);
        }
    }

    /// <summary>Loads the file again when its stamp differs from the last one tried (or always, with <paramref name="force"/>).</summary>
    /// <returns>True when a new gate now serves.</returns>
    public bool TryReload(bool force = false)
    {
        lock (reloadLock)
        {
            if (disposed || current is null)
            {
                return false;
            }

            var stamp = FileStamp.Of(Path);
            if (stamp is null || (!force && stamp == attempted))
            {
                return false;
            }

            attempted = stamp;
            Log.ReloadStarted(logger, Path);
            IGateModel? model = null;
            try
            {
                model = loader.Load(Path);
                var shape = Info!.InputShape;
                if (!model.InputShape.SequenceEqual(shape))
                {
                    throw new InvalidDataException(
                        $"The new gate takes inputs [{string.Join(", ", model.InputShape)}], the serving one [{string.Join(", ", shape)}]; a reload must keep the input shape.");
                }

                Install(model);
                Volatile.Write(ref lastError, null);
                metrics?.Reload(true);
                return true;
            }
#pragma warning disable CA1031 // a failed reload of any kind keeps the old gate serving; the error is logged and reported by the health check
            catch (Exception e)
#pragma warning restore CA1031
            {
                model?.Dispose();
                Volatile.Write(ref lastError, e.Message);
                metrics?.Reload(false);
                Log.ReloadFailed(logger, e, Path, Info!.Generation);
                return false;
            }
        }
    }

    /// <summary>A lease on the serving gate; dispose it when the batch is done.</summary>
    public RefCounted<IGateModel>.Lease Acquire()
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed), this);
            var holder = Volatile.Read(ref current) ?? throw new InvalidOperationException("The FlowOod gate has not been loaded yet; it loads when the host starts.");
            var lease = holder.TryAcquire();
            if (lease is not null)
            {
                return lease;
            }

            // The holder was retired and disposed between the read and the acquire: a newer one is in place.
        }
    }

    public void Dispose()
    {
        lock (reloadLock)
        {
            if (disposed)
            {
                return;
            }

            Volatile.Write(ref disposed, true);
            Interlocked.Exchange(ref current, null)?.Retire();
        }
    }

    private GateInfo Install(IGateModel model)
    {
        var previous = Info;
        var next = new GateInfo(
            Path, model.InputShape.ToArray(), model.ClassNames.ToArray(), model.TargetFalsePositiveRate, model.Threshold,
            time.GetUtcNow(), (previous?.Generation ?? 0) + 1);
        var old = Interlocked.Exchange(ref current, new RefCounted<IGateModel>(model));
        Volatile.Write(ref info, next);
        Log.GateLoaded(logger, Path, next.Generation, "[" + string.Join(", ", next.InputShape) + "]", next.ClassNames.Count, next.TargetFalsePositiveRate, next.Threshold);
        if (old is not null)
        {
            old.Retire();
            Log.GateRetired(logger, previous!.Generation);
        }

        Loaded?.Invoke(next);
        return next;
    }
}
