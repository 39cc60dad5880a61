using System;
using System.Diagnostics;
using System.Threading;

namespace FlowOod.Layers;

/// <summary>
/// A second thread for one caller at a time, which shares the managed convolutions and feature-map passes that caller
/// splits (<see cref="HostConv.Run(HostImage, HostImage, bool, Lease, int)"/>, <see cref="Split(int, int, int, Action{int, int})"/>).
/// </summary>
/// <remarks>
/// <para>Why: one image's convolution takes tens of microseconds, about what waking a thread-pool thread costs, so
/// splitting it with <c>Parallel.For</c> saved little end to end (docs/performance.md). While a caller holds the helper
/// (<see cref="TryAcquire"/>, for the length of one st-network), the helper thread spins, so handing it work costs a
/// memory write. Released, it spins 0.5 ms more (the next st-network of the same image takes it again sooner than a
/// sleeping thread wakes), then sleeps (<see cref="Monitor.Wait(object)"/>) and uses no processor time.</para>
/// <para>A split computation is cut into up to 8 chunks (of pixel blocks, 2×2 tiles or rows) that the caller claims
/// from the first and the helper from the last, so a helper slowed or preempted by another thread on its core takes
/// fewer chunks, the caller waits at most for the one chunk the helper is computing, and each thread computes about the
/// same rows of every feature map of an image, which stay in its core's cache. One caller holds the helper at a time;
/// the others get no lease and compute alone, which is what a server running many requests at once wants anyway.</para>
/// <para>The inference path uses it only where the application opted in (<see cref="FlowOodRuntime.UseSingleImageHelperThread"/>).
/// The thread is a background thread started at the first lease and kept for the life of the process (it holds
/// no native memory). Machines with one processor get no helper.</para>
/// </remarks>
internal sealed class HostHelper
{
    private const int MaxChunks = 8;

    // How long the helper spins after a lease ends before it sleeps: 0.5 ms.
    private static readonly long LingerTicks = Stopwatch.Frequency / 2000;

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
    internal void Split(HostConv convolution, HostConv.KernelArgs whole, int blockPixels) => Split(
        whole.FirstPixel, whole.EndPixel, blockPixels, (first, end) => convolution.RunPart(whole with { FirstPixel = first, EndPixel = end }));

    /// <summary>
    /// Runs <paramref name="part"/> over [<paramref name="first"/>, <paramref name="end"/>) on the caller and the helper,
    /// in up to 8 chunks of whole blocks of <paramref name="block"/> units (the last block may be shorter): the caller
    /// claims chunks from the first, the helper from the last. Returns when every chunk is done; a chunk's exception is
    /// rethrown then, wrapped.
    /// </summary>
    internal void Split(int first, int end, int block, Action<int, int> part)
    {
        int blocks = (end - first + block - 1) / block;
        var job = new Job(part, first, end, block, blocks, Math.Min(MaxChunks, blocks));
        Volatile.Write(ref current, job);
        job.Work(fromLast: false);
        var spinner = default(SpinWait);
        while (Volatile.Read(ref job.Finished) < job.Chunks)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }

        Volatile.Write(ref current, null);
        if (job.Failure is { } error)
        {
            throw new InvalidOperationException("A chunk of a split computation failed.", error);
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
                    Interlocked.Add(ref chunks, job.Work(fromLast: true));
                }
                else
                {
                    Thread.SpinWait(16);
                }
            }

            // Lingers before sleeping: the next st-network of the same image takes the helper again within tens of
            // microseconds, less than waking a sleeping thread costs.
            long until = Stopwatch.GetTimestamp() + LingerTicks;
            while (!Volatile.Read(ref held) && Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(16);
            }
        }
    }

    // One split computation: chunks of whole blocks of units (pixels, 2×2 tiles or rows), claimed by the caller from the
    // first and by the helper from the last, so that each thread computes about the same rows of every feature map of an
    // image, which then stay in its core's cache (measured on a 2-core Zen 5 VM: a pass over a 64-channel 14×14 map the
    // other core had written half of took 3× as long as over one its own thread had written). A thread that arrives late
    // finds nothing left to claim and touches nothing.
    private sealed class Job(Action<int, int> part, int start, int stop, int block, int blocks, int chunks)
    {
        public int Finished;
        public Exception? Failure;

        // The chunks not yet claimed, [low 32 bits, high 32 bits).
        private long unclaimed = (long)chunks << 32;

        public int Chunks => chunks;

        // Claims and computes chunks until none is left, from the first (the caller) or the last (the helper); returns
        // how many this thread computed.
        public int Work(bool fromLast)
        {
            int done = 0;
            for (int k; (k = Claim(fromLast)) >= 0; done++)
            {
                try
                {
                    part(start + (blocks * k / chunks * block), Math.Min(stop, start + (blocks * (k + 1) / chunks * block)));
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

        // The index of the chunk claimed, or −1 when none is left.
        private int Claim(bool fromLast)
        {
            while (true)
            {
                long seen = Volatile.Read(ref unclaimed);
                int low = (int)seen, high = (int)(seen >> 32);
                if (low >= high)
                {
                    return -1;
                }

                long next = fromLast ? ((long)(high - 1) << 32) | (uint)low : ((long)high << 32) | (uint)(low + 1);
                if (Interlocked.CompareExchange(ref unclaimed, next, seen) == seen)
                {
                    return fromLast ? high - 1 : low;
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
