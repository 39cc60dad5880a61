using System;
using System.Threading;

namespace FlowOod.Layers;

/// <summary>
/// A second thread for one caller at a time, which takes half of each managed convolution that caller splits
/// (<see cref="HostConv.Run(HostImage, HostImage, bool, Lease)"/>).
/// </summary>
/// <remarks>
/// <para>Why: one image's convolution takes tens of microseconds, about what waking a thread-pool thread costs, so
/// splitting it with <c>Parallel.For</c> saved little end to end (docs/performance.md). While a caller holds the helper
/// (<see cref="TryAcquire"/>, for the length of one st-network), the helper thread spins, so handing it a half costs
/// a memory write; released, it sleeps (<see cref="Monitor.Wait(object)"/>) and uses no processor time.</para>
/// <para>Progress never depends on the helper: a caller that finishes its own half before the helper has claimed the
/// other takes that half back and computes it itself. One caller holds the helper at a time; the others get no lease
/// and compute alone, which is what a server running many requests at once wants anyway.</para>
/// <para>The thread is a background thread started at the first lease and kept for the life of the process (it holds
/// no native memory). Machines with one processor get no helper.</para>
/// </remarks>
internal sealed class HostHelper
{
    private const int Idle = 0;
    private const int Posted = 1;
    private const int Running = 2;
    private const int Done = 3;

    private static readonly Lazy<HostHelper?> SharedHelper = new(() => Environment.ProcessorCount > 1 ? new HostHelper() : null, LazyThreadSafetyMode.ExecutionAndPublication);

    // The thread sleeps on `gate` while no caller holds the helper and spins while `held` is set.
    private readonly object gate = new();
    private bool held;
    private int owner;
    private int state = Idle;
    private HostConv? conv;
    private HostConv.KernelArgs work;
    private Exception? failure;
    private long halves;

    private HostHelper()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "FlowOod host helper" };
        thread.Start();
    }

    /// <summary>The process's helper, or null on a machine with one processor.</summary>
    public static HostHelper? Shared => SharedHelper.Value;

    /// <summary>Halves the helper thread has computed since the process started (the rest were taken back by their callers).</summary>
    public long HalvesComputed => Interlocked.Read(ref halves);

    /// <summary>The helper for the caller until the lease is disposed, or a lease that holds nothing when another caller holds it.</summary>
    public Lease TryAcquire()
    {
        if (Interlocked.CompareExchange(ref owner, 1, 0) != 0)
        {
            return default;
        }

        lock (gate)
        {
            Volatile.Write(ref held, true);
            Monitor.Pulse(gate);
        }

        return new Lease(this);
    }

    // Runs the kernel on `second` on the helper, `first` on the caller; returns when both are done.
    internal void Split(HostConv convolution, in HostConv.KernelArgs first, in HostConv.KernelArgs second)
    {
        conv = convolution;
        work = second;
        failure = null;
        Volatile.Write(ref state, Posted);
        bool reclaimed;
        try
        {
            convolution.RunPart(first);
        }
        finally
        {
            // Whatever happened to the caller's half, the other is either taken back here or finished by the helper
            // before the caller moves on.
            reclaimed = Interlocked.CompareExchange(ref state, Running, Posted) == Posted;
            if (!reclaimed)
            {
                var spinner = default(SpinWait);
                while (Volatile.Read(ref state) != Done)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
            }
        }

        if (reclaimed)
        {
            // The helper had not started it: compute it here rather than wait.
            convolution.RunPart(second);
        }

        Volatile.Write(ref state, Idle);
        conv = null;
        if (failure is { } error)
        {
            throw new InvalidOperationException("The host helper thread failed computing its half of a convolution.", error);
        }
    }

    private void Release()
    {
        Volatile.Write(ref held, false);
        Volatile.Write(ref owner, 0);
    }

    private void Loop()
    {
        while (true)
        {
            lock (gate)
            {
                while (!held)
                {
                    Monitor.Wait(gate);
                }
            }

            while (Volatile.Read(ref held))
            {
                if (Volatile.Read(ref state) == Posted && Interlocked.CompareExchange(ref state, Running, Posted) == Posted)
                {
                    try
                    {
                        conv!.RunPart(work);
                        Interlocked.Increment(ref halves);
                    }
#pragma warning disable CA1031 // Handed to the caller, which rethrows it; the helper thread must survive.
                    catch (Exception error)
#pragma warning restore CA1031
                    {
                        failure = error;
                    }

                    Volatile.Write(ref state, Done);
                }
                else
                {
                    Thread.SpinWait(16);
                }
            }
        }
    }

    /// <summary>The helper held by one caller until disposed; the default value holds nothing.</summary>
    internal readonly struct Lease : IDisposable
    {
        public Lease(HostHelper helper) => Helper = helper;

        /// <summary>The helper held, or null.</summary>
        public HostHelper? Helper { get; }

        /// <summary>Lets the helper go back to sleep and to other callers.</summary>
        public void Dispose() => Helper?.Release();
    }
}
