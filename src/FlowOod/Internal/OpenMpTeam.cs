using System;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FlowOod;

/// <summary>
/// Runs managed work on libtorch's own OpenMP threads: the loaded GNU OpenMP runtime's <c>GOMP_parallel</c>, found at run
/// time next to libtorch (Linux; elsewhere, or when it is not found, <see cref="TryFor"/> returns false and the caller uses
/// its own threads).
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
    private static readonly object Gate = new();
    private static ParallelEntry? entry;
    private static bool resolved;

    // Kept for the process's life: native code calls it through the pointer below.
    private static readonly Body Callback = Run;
    private static readonly IntPtr CallbackPointer = Marshal.GetFunctionPointerForDelegate(Callback);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void ParallelEntry(IntPtr function, IntPtr data, uint threads, uint flags);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void Body(IntPtr data);

    /// <summary>Whether the OpenMP runtime libtorch loaded was found (false before libtorch is loaded).</summary>
    public static bool IsAvailable => Resolve() is not null;

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
        if (Resolve() is not { } parallel)
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

    // The entry point, looked up once libtorch is loaded (until then, null without caching).
    private static ParallelEntry? Resolve()
    {
        if (Volatile.Read(ref resolved))
        {
            return entry;
        }

        lock (Gate)
        {
            if (!resolved)
            {
                var (loaded, found) = OperatingSystem.IsLinux() ? Find() : (true, null);
                entry = found;
                Volatile.Write(ref resolved, loaded);
            }

            return entry;
        }
    }

    // GOMP_parallel of the GNU OpenMP runtime mapped into this process, preferring the one beside libtorch_cpu; Loaded
    // says whether libtorch_cpu is mapped yet (if not, the answer may change).
    private static (bool Loaded, ParallelEntry? Entry) Find()
    {
        string[] mapped;
        try
        {
            mapped = File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : null)
                .OfType<string>()
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (true, null);
        }

        var torch = mapped.FirstOrDefault(path => Path.GetFileName(path).StartsWith("libtorch_cpu", StringComparison.Ordinal));
        var candidates = mapped.Where(path => Path.GetFileName(path).StartsWith("libgomp", StringComparison.Ordinal))
            .OrderBy(path => torch is not null && Path.GetDirectoryName(path) == Path.GetDirectoryName(torch) ? 0 : 1);
        foreach (var path in candidates)
        {
            if (NativeLibrary.TryLoad(path, out var library) && NativeLibrary.TryGetExport(library, "GOMP_parallel", out var address))
            {
                // The library stays loaded (libtorch holds it anyway): the entry point is used for the process's life.
                return (true, Marshal.GetDelegateForFunctionPointer<ParallelEntry>(address));
            }
        }

        return (torch is not null, null);
    }

    private sealed class Work(Action<int> body, int count)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public int Next;
        public ExceptionDispatchInfo? Error;
    }
}
