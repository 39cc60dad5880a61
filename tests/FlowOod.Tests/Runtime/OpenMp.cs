using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace FlowOod.Tests.Runtime;

// The OpenMP runtime libtorch ships (libgomp-<hash>.so.1 beside the test), read directly: what a thread's team looks like.
internal static class OpenMp
{
    private static readonly Lazy<nint> Library = new(() =>
        NativeLibrary.Load(Directory.GetFiles(AppContext.BaseDirectory, "libgomp*.so*").Single()));

    private static readonly Lazy<nint> MaxThreadsFunction = new(() => NativeLibrary.GetExport(Library.Value, "omp_get_max_threads"));

    private static readonly Lazy<nint> TeamSizeFunction = new(() => NativeLibrary.GetExport(Library.Value, "omp_get_num_threads"));

    // omp_get_max_threads: the team size the calling thread's next parallel region would get.
    public static unsafe int MaxThreads() => ((delegate* unmanaged<int>)MaxThreadsFunction.Value)();

    // omp_get_num_threads: the size of the team the calling thread is in (1 outside a parallel region).
    public static unsafe int TeamSize() => ((delegate* unmanaged<int>)TeamSizeFunction.Value)();
}
