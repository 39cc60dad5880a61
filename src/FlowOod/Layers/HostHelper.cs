using System;
using System.Threading;

namespace FlowOod.Layers;

/// <summary>
/// A second thread for one caller at a time, which shares the managed convolutions that caller splits
/// (<see cref="HostConv.Run(HostImage, HostImage, bool, Lease)"/>).
/// </summary>
/// <remarks>
/// <para>Why: one image's convolution takes tens of microseconds, about what waking a thread-pool thread costs, so
/// splitting it with <c>Parallel.For</c> saved little end to end (docs/performance.md). While a caller holds the helper
/// (<see cref="TryAcquire"/>, for the length of one st-network), the helper thread spins, so handing it work costs a
/// memory write; released, it sleeps (<see cref="Monitor.Wait(object)"/>) and uses no processor time.</para>
/// <para>A split convolution is cut into up to 8 chunks of pixel blocks that the caller and the helper claim one at a
/// time from a shared counter, so a helper slowed or preempted by another thread on its core takes fewer chunks, and the
/// caller waits at most for the one chunk the helper is computing. One caller holds the helper at a time; the others
/// get no lease and compute alone, which is what a server running many requests at once wants anyway.</para>
/// <para>The inference path uses it only where the application opted in (<see cref="FlowOodRuntime.UseSingleImageHelperThread"/>).
/// The thread is a background thread started at the first lease and kept for the life of the process (it holds
/// no native memory). Machines with one processor get no helper.</para>
/// </remarks>
internal sealed class HostHelper
{
    private const int MaxChunks = 8;

    private static readonly Lazy<HostHelper?> SharedHelper = new(() => Environment.ProcessorCount > 1 ? new HostHelper() : null, LazyThreadSafetyMode.ExecutionAndPublication);

    // The thread sleeps on `gate` while no caller holds the helper and spins while `held` is set.
    private readonly object gate = new();
    private bool held;
    private int owner;
    private Job? current;
    private long chunks;

    private HostHelper()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "FlowOod host helper" };
        thread.Start();
    }

    /// <summary>The process's helper, or null on a machine with one processor.</summary>
    public static HostHelper? Shared => SharedHelper.Value;

    /// <summary>Chunks the helper thread has computed since the process started (the rest were computed by their callers).</summary>
    public long ChunksComputed => Interlocked.Read(ref chunks);

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

    // Runs the kernel on the pixels of `whole` on the caller and the helper, in chunks of whole blocks of `blockPixels`
    // (the last block may be shorter); returns when every chunk is done.
    internal void Split(HostConv convolution, in HostConv.KernelArgs whole, int blockPixels)
    {
        int blocks = (whole.EndPixel - whole.FirstPixel + blockPixels - 1) / blockPixels;
        var job = new Job(convolution, whole, blockPixels, blocks, Math.Min(MaxChunks, blocks));
        Volatile.Write(ref current, job);
        job.Work();
        var spinner = default(SpinWait);
        while (Volatile.Read(ref job.Finished) < job.Chunks)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }

        Volatile.Write(ref current, null);
        if (job.Failure is { } error)
        {
            throw new InvalidOperationException("A chunk of a split convolution failed.", error);
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

            Job? last = null;
            while (Volatile.Read(ref held))
            {
                if (Volatile.Read(ref current) is { } job && job != last)
                {
                    last = job;
                    Interlocked.Add(ref chunks, job.Work());
                }
                else
                {
                    Thread.SpinWait(16);
                }
            }
        }
    }

    // One split convolution: chunks of whole pixel blocks, claimed from `next` by either thread. A thread that arrives
    // late finds nothing left to claim and touches nothing.
    private sealed class Job(HostConv conv, HostConv.KernelArgs whole, int blockPixels, int blocks, int chunks)
    {
        public int Finished;
        public Exception? Failure;
        private int next;

        public int Chunks => chunks;

        // Claims and computes chunks until none is left; returns how many this thread computed.
        public int Work()
        {
            int done = 0;
            for (int k; (k = Interlocked.Increment(ref next) - 1) < chunks; done++)
            {
                try
                {
                    int first = whole.FirstPixel + (blocks * k / chunks * blockPixels);
                    int end = Math.Min(whole.EndPixel, whole.FirstPixel + (blocks * (k + 1) / chunks * blockPixels));
                    conv.RunPart(whole with { FirstPixel = first, EndPixel = end });
                }
#pragma warning disable CA1031 // Handed to the caller, which rethrows it once every chunk is done; the helper thread must survive.
                catch (Exception error)
#pragma warning restore CA1031
                {
                    Failure = error;
                }

                Interlocked.Increment(ref Finished);
            }

            return done;
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
