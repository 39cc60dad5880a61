using System;
using System.Runtime.InteropServices;

namespace FlowOod;

/// <summary>
/// glibc's <c>mallopt</c>, found at run time in <c>libc.so.6</c> (absent on musl, macOS and Windows: nothing happens there).
/// Used only by <see cref="FlowOodRuntime.RetainFreedMemory"/>, an application's process-wide choice.
/// </summary>
internal static class GlibcMalloc
{
    /// <summary>glibc's largest <c>M_MMAP_THRESHOLD</c> on 64-bit (<c>4 · 1024 · 1024 · sizeof(long)</c>).</summary>
    public const int MaxMmapThreshold = 32 << 20;

    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MallOpt(int parameter, int value);

    /// <summary>
    /// Fixes the mmap threshold at <see cref="MaxMmapThreshold"/> and the trim threshold at <paramref name="trimThreshold"/>
    /// bytes; false when this is not glibc or glibc refused a value.
    /// </summary>
    public static bool TrySet(int trimThreshold)
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc))
        {
            return false;
        }

        try
        {
            if (!NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _)
                || !NativeLibrary.TryGetExport(libc, "mallopt", out var address))
            {
                return false;
            }

            var mallopt = Marshal.GetDelegateForFunctionPointer<MallOpt>(address);
            return mallopt(MmapThreshold, MaxMmapThreshold) == 1 && mallopt(TrimThreshold, trimThreshold) == 1;
        }
        finally
        {
            NativeLibrary.Free(libc);
        }
    }
}
