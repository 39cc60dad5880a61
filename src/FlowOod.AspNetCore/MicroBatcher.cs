using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using FlowOod.Gating;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>Settings of the <see cref="MicroBatcher"/>.</summary>
internal readonly record struct BatcherSettings(int MaxBatchSize, TimeSpan MaxBatchDelay, int MaxQueueLength);

/// <summary>
/// The one scoring worker: a dedicated thread that takes requests from a bounded channel, gathers the ones waiting into
/// a micro-batch (up to MaxBatchSize, waiting at most MaxBatchDelay after the first for more), scores the batch with one
/// <see cref="IGateModel.Classify"/> call on a leased gate and completes each request's task.
/// </summary>
/// <remarks>
/// Only this thread runs libtorch for requests, so at most one libtorch computation runs at a time whatever the
/// number of clients: two multi-threaded libtorch computations on the same cores run several times slower than one
/// (OpenMP threads spin while they wait), and one batch of N costs far less than N forwards of one. Under load the
/// queue fills while a batch runs and the next batch is taken without waiting, so throughput grows with concurrency
/// instead of collapsing. A request whose token is cancelled while queued completes as cancelled and is skipped; a
/// request arriving at a full queue is refused at once (<see cref="GateOverloadedException"/>). When a batch fails,
/// its requests are scored one by one so one bad request fails alone.
/// </remarks>
internal sealed class MicroBatcher : IDisposable
{
    private readonly GateHost host;
    private readonly BatcherSettings settings;
    private readonly DriftMonitor? drift;
    private readonly GateMetrics? metrics;
    private readonly ILogger logger;
    private readonly RefusalLog refusals;
    private readonly Channel<Pending> channel;
    private Thread? worker;
    private int stopped;

    public MicroBatcher(GateHost host, BatcherSettings settings, ILogger logger, DriftMonitor? drift = null, GateMetrics? metrics = null)
    {
        this.host = host;
        this.settings = settings;
        this.logger = logger;
        this.drift = drift;
        this.metrics = metrics;
        refusals = new RefusalLog(logger, settings.MaxQueueLength);
        channel = Channel.CreateBounded<Pending>(new BoundedChannelOptions(settings.MaxQueueLength)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    /// <summary>Requests waiting (cancelled ones not yet skipped included).</summary>
    public int QueueLength => channel.Reader.Count;

    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref stopped) != 0, this);
        if (Interlocked.CompareExchange(ref worker, new Thread(Run) { IsBackground = true, Name = "FlowOod gate worker" }, null) is null)
        {
            worker.Start();
        }
    }

    /// <summary>Queues one input (owned by the batcher from now on) and returns its decision's task.</summary>
    public Task<GateDecision> EnqueueAsync(float[] input, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<GateDecision>(cancellationToken);
        }

        if (Volatile.Read(ref stopped) != 0)
        {
            throw new InvalidOperationException("The FlowOod gate is stopping; it takes no more requests.");
        }

        var pending = new Pending(input, Stopwatch.GetTimestamp());
        if (cancellationToken.CanBeCanceled)
        {
            pending.Registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((Pending)state!).TrySetCanceled(token), pending);
        }

        if (!channel.Writer.TryWrite(pending))
        {
            pending.Registration.Dispose();
            if (Volatile.Read(ref stopped) != 0)
            {
                throw new InvalidOperationException("The FlowOod gate is stopping; it takes no more requests.");
            }

            metrics?.QueueFull();
            refusals.Refused();
            throw new GateOverloadedException($"The OOD gate's queue is full ({settings.MaxQueueLength} requests waiting); retry later.");
        }

        return pending.Task;
    }

    /// <summary>Stops taking requests, lets the worker finish the batch it runs, and cancels what is still queued.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref stopped, 1) != 0)
        {
            return;
        }

        channel.Writer.TryComplete();
        var thread = Volatile.Read(ref worker);
        if (thread is not null && thread != Thread.CurrentThread)
        {
            thread.Join();
        }

        while (channel.Reader.TryRead(out var left))
        {
            left.TrySetException(new InvalidOperationException("The FlowOod gate stopped before this request was scored."));
            left.Registration.Dispose();
        }

        refusals.Flush();
    }

    public void Dispose() => Stop();

    private void Run()
    {
        var batch = new List<Pending>(settings.MaxBatchSize);
        while (Fill(batch))
        {
            try
            {
                Score(batch);
            }
#pragma warning disable CA1031 // the worker must survive anything a batch throws; each request got its exception
            catch (Exception e)
#pragma warning restore CA1031
            {
                foreach (var p in batch)
                {
                    p.TrySetException(e);
                }
            }
            finally
            {
                foreach (var p in batch)
                {
                    p.Registration.Dispose();
                }

                batch.Clear();
            }
        }
    }

    // Blocks for the first live request, then gathers more until the batch is full or MaxBatchDelay has passed.
    // Returns false when the channel is completed and empty.
    private bool Fill(List<Pending> batch)
    {
        var reader = channel.Reader;
        while (batch.Count == 0)
        {
            if (Volatile.Read(ref stopped) != 0)
            {
                return false; // Stop fails what is still queued
            }

            if (reader.TryRead(out var first))
            {
                Take(batch, first);
                continue;
            }

            if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                return false;
            }
        }

        long deadline = Stopwatch.GetTimestamp() + (long)(settings.MaxBatchDelay.TotalSeconds * Stopwatch.Frequency);
        while (batch.Count < settings.MaxBatchSize)
        {
            if (reader.TryRead(out var next))
            {
                Take(batch, next);
                continue;
            }

            long remaining = deadline - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                break;
            }

            var wait = reader.WaitToReadAsync().AsTask();
            if (!wait.Wait(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency)) || !wait.Result)
            {
                break;
            }
        }

        return true;
    }

    private static void Take(List<Pending> batch, Pending pending)
    {
        if (pending.Task.IsCompleted)
        {
            pending.Registration.Dispose(); // cancelled while queued
        }
        else
        {
            batch.Add(pending);
        }
    }

    private void Score(List<Pending> batch)
    {
        using var lease = host.Acquire();
        var model = lease.Value;
        int length = checked((int)Product(model.InputShape));
        metrics?.Batch(batch.Count);
        var inputs = new float[checked(length * batch.Count)];
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch[i].Input.Length != length)
            {
                throw new InvalidOperationException($"A queued input has {batch[i].Input.Length} values; the serving gate takes {length}.");
            }

            batch[i].Input.CopyTo(inputs, i * length);
        }

        GateDecision[] decisions;
        try
        {
            decisions = model.Classify(inputs, batch.Count);
        }
#pragma warning disable CA1031 // fall back to one request at a time so that only the failing request fails
        catch (Exception e) when (batch.Count > 1)
#pragma warning restore CA1031
        {
            Log.BatchFailed(logger, e, batch.Count);
            foreach (var p in batch)
            {
                try
                {
                    Complete(p, model.Classify(p.Input, 1)[0]);
                }
#pragma warning disable CA1031 // the request gets its own exception
                catch (Exception single)
#pragma warning restore CA1031
                {
                    p.TrySetException(single);
                }
            }

            return;
        }

        for (int i = 0; i < batch.Count; i++)
        {
            Complete(batch[i], decisions[i]);
        }
    }

    private void Complete(Pending pending, GateDecision decision)
    {
        drift?.Add(decision.IsOutOfDistribution);
        metrics?.Decision(decision.IsOutOfDistribution, decision.Score, Stopwatch.GetElapsedTime(pending.Enqueued).TotalSeconds);
        Log.Decision(logger, decision.Label, decision.LabelName, decision.IsOutOfDistribution, decision.Score, decision.PValue);
        pending.TrySetResult(decision);
    }

    private static long Product(IReadOnlyList<long> shape)
    {
        long p = 1;
        foreach (long d in shape)
        {
            p = checked(p * d);
        }

        return p;
    }

    private sealed class Pending(float[] input, long enqueued) : TaskCompletionSource<GateDecision>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public float[] Input { get; } = input;

        public long Enqueued { get; } = enqueued;

        public CancellationTokenRegistration Registration { get; set; }
    }
}
