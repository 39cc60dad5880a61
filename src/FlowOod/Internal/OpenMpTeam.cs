using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FlowOod;

/// <summary>
/// Runs managed work on libtorch's own OpenMP threads: <c>GOMP_parallel</c> of the GNU OpenMP runtime libtorch links,
/// found at run time through the loaded <c>libtorch_cpu</c> (<see cref="LoadedLibTorch"/>; Linux; elsewhere, or when it is
/// not found, <see cref="TryFor"/> returns false and the caller uses its own threads).
/// </summary>
/// <remarks>
/// <para>Why: after every parallel operation libtorch's OpenMP worker threads spin, waiting for the next one (GNU OpenMP's
/// default wait policy, milliseconds per operation). Managed work started on .NET's thread pool right after such an
/// operation shares the cores with those spinning threads. Measured on a 2-core AMD EPYC (Zen 5), the compact RealNVP's
/// float32 batch scoring, whose st-networks run in managed code between libtorch's coupling operations, ran at 605
/// images/s with the default wait policy and 715 with <c>OMP_WAIT_POLICY=passive</c>, which in turn slowed everything
/// computed by libtorch (bf16 scoring 839 → 721, training 10–20%). Handing the work to the same team instead uses the
/// threads that spin, so nothing waits for a core and libtorch's settings stay as they are (docs/performance.md).</para>
/// <para>The team is the calling thread's, of <c>threads</c> threads, as libtorch's own parallel loops on that thread make
/// it (libtorch's intra-op thread count): the same OpenMP threads, no new ones. A call from inside an OpenMP parallel
/// region gets the team the runtime allows there (the calling thread alone unless nested parallelism is on). Items are
/// claimed one at a time from a shared counter, so a preempted thread holds back one item at most. A worker's first call
/// attaches it to the .NET runtime.</para>
/// </remarks>
internal static class OpenMpTeam
{
    private static readonly Lazy<ParallelEntry?> Entry = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    // Kept for the process's life: native code calls it through the pointer below.
    private static readonly Body Callback = Run;
    private static readonly IntPtr CallbackPointer = Marshal.GetFunctionPointerForDelegate(Callback);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void ParallelEntry(IntPtr function, IntPtr data, uint threads, uint flags);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void Body(IntPtr data);

    /// <summary>Whether the OpenMP runtime libtorch loaded was found.</summary>
    public static bool IsAvailable => Entry.Value is not null;

    /// <summary>
    /// Calls <paramref name="body"/> once for each of <c>0 … count − 1</c> on the calling thread's OpenMP team of
    /// <paramref name="threads"/> threads (the caller's among them) and returns when all have run; false, having run
    /// nothing, when there is no OpenMP runtime to use. The first exception a call throws stops further items from
    /// starting and is rethrown here.
    /// </summary>
    public static bool TryFor(int count, int threads, Action<int> body)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentNullException.ThrowIfNull(body);
        if (Entry.Value is not { } parallel)
        {
            return false;
        }

        var work = new Work(body, count);
        var handle = GCHandle.Alloc(work);
        try
        {
            parallel(CallbackPointer, GCHandle.ToIntPtr(handle), (uint)threads, 0);
        }
        finally
        {
            handle.Free();
        }

        work.Error?.Throw();
        return true;
    }

    // Each thread of the team: claims items until none is left or one has failed.
    private static void Run(IntPtr data)
    {
        var work = (Work)GCHandle.FromIntPtr(data).Target!;
        try
        {
            int item;
            while (Volatile.Read(ref work.Error) is null && (item = Interlocked.Increment(ref work.Next) - 1) < work.Count)
            {
                work.Body(item);
            }
        }
        catch (Exception e)
        {
            // An exception must not cross into native code: the first is kept and rethrown by the caller.
            Interlocked.CompareExchange(ref work.Error, ExceptionDispatchInfo.Capture(e), null);
        }
    }

    // GOMP_parallel as libtorch_cpu links it (found through its handle, which searches its dependencies); Linux only,
    // where libtorch ships the GNU runtime.
    private static ParallelEntry? Find()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        FlowOodRuntime.EnsureAvailable();
        using var library = LoadedLibTorch.Open();

        // The entry point outlives this reference: TorchSharp keeps libtorch, and with it the runtime, loaded.
        return library is not null && library.TryGet("GOMP_parallel", out ParallelEntry parallel) ? parallel : null;
    }

    private sealed class Work(Action<int> body, int count)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public int Next;
        public ExceptionDispatchInfo? Error;
    }
}
