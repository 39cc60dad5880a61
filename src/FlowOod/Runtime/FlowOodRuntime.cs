using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using TorchSharp;

namespace FlowOod;

/// <summary>
/// Loads TorchSharp's native backend once and turns its misleading failures into a <see cref="FlowOodRuntimeException"/>
/// that names the real cause. Every FlowOod entry point that touches tensors calls <see cref="EnsureAvailable"/>.
/// </summary>
/// <remarks>
/// FlowOod references the managed <c>TorchSharp</c> package only. An application must add exactly one backend package:
/// <c>TorchSharp-cpu</c>, <c>TorchSharp-cuda-linux</c>, <c>TorchSharp-cuda-windows</c>, or a <c>libtorch-*</c> 2.10.0
/// package. When the backend is present but <c>libLibTorchSharp.so</c> cannot be loaded because the system's
/// libstdc++ lacks <c>GLIBCXX_3.4.32</c> (Debian 12, Ubuntu 22.04), TorchSharp still reports the backend as missing;
/// this class detects that case and says so.
/// </remarks>
public static class FlowOodRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;
    private static bool _singleImageHelperThread;

    /// <summary>Makes sure the TorchSharp native backend is loaded.</summary>
    /// <exception cref="FlowOodRuntimeException">The backend could not be loaded; the message names the cause.</exception>
    public static void EnsureAvailable()
    {
        if (_loaded)
        {
            return;
        }

        lock (Gate)
        {
            if (_loaded)
            {
                return;
            }

            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
                _loaded = true;
            }
            catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException)
            {
                throw new FlowOodRuntimeException(Diagnose(e), e);
            }
        }
    }

    /// <summary>
    /// Turns libtorch's NNPACK convolution backend off for the whole process, which stops libtorch printing
    /// <c>Could not initialize NNPACK! Reason: Unsupported hardware.</c> on processors NNPACK does not recognise. An
    /// application's decision: FlowOod itself never calls it.
    /// </summary>
    /// <remarks>
    /// <para><b>Process-wide.</b> It changes libtorch's global context (the setting behind PyTorch's
    /// <c>torch.backends.nnpack.set_flags(False)</c>) for every thread and every library in the process. Call it once, at
    /// the start of the application, before the first tensor is created and before any thread computes; it loads the
    /// native backend (<see cref="EnsureAvailable"/>) first. Calling it again is harmless.</para>
    /// <para><b>Why it exists.</b> libtorch asks NNPACK to initialise each time it considers NNPACK for a float32 CPU
    /// convolution that oneDNN does not take (e.g. a batch of one small image). On a processor unknown to NNPACK's CPU
    /// detection (seen on AMD EPYC family 26) initialisation fails and libtorch logs a warning line to stderr on every such
    /// call: thousands of lines in a service scoring single images. The variable <c>TORCH_CPP_LOG_LEVEL</c> does not help
    /// here: libtorch reads it only when a host (PyTorch's Python module) initialises logging, which TorchSharp does not.</para>
    /// <para><b>Results.</b> On such a processor NNPACK never runs, so nothing changes but the log. Elsewhere libtorch
    /// takes oneDNN or its own kernels for the few convolutions NNPACK would have computed (it only qualifies for batches of
    /// 16 or more that oneDNN declines), which may change their last bits.</para>
    /// <para>The switch is found by its C++ symbol in the loaded <c>libtorch_cpu</c> (Linux and macOS builds); where it
    /// cannot be found, nothing changes and the method returns false.</para>
    /// </remarks>
    /// <returns>True when NNPACK is now off; false when the loaded libtorch does not expose the switch (nothing changed).</returns>
    /// <exception cref="FlowOodRuntimeException">The native backend could not be loaded; the message names the cause.</exception>
    public static bool DisableNnpack()
    {
        EnsureAvailable();
        lock (Gate)
        {
            return LibTorchContext.TrySetNnpackEnabled(false);
        }
    }

    /// <summary>
    /// Tells glibc's <c>malloc</c> to keep freed memory for reuse instead of handing it back to the kernel, so that CPU
    /// tensors stop paying a page fault per 4 KiB every time they are allocated. An application's decision, for the
    /// whole process: FlowOod itself never calls it.
    /// </summary>
    /// <remarks>
    /// <para><b>Why.</b> libtorch allocates every CPU tensor with <c>malloc</c>. glibc returns freed memory at the top of
    /// its heaps to the kernel once it passes a trim threshold that it adjusts on its own, and serves blocks above an
    /// (also adjusted) mmap threshold with fresh pages. Which way a scoring call goes depends on what the process did
    /// before. Measured on the 2-core AMD EPYC VM, the compact RealNVP's float32 inference copy scored 1,024 images:
    /// 318–335 images/s with ~100 page faults in a fresh process, but 180–190 images/s with ~300,000 page faults after
    /// 30 training steps in the same process. With this call made first, the same sequence scored 312–360 images/s
    /// with 0–29,000 page faults. ONNX Runtime avoids the problem with its own arena; PyTorch's CPU tuning guides
    /// suggest jemalloc or tcmalloc for the same reason.</para>
    /// <para><b>What it sets.</b> <c>mallopt(M_MMAP_THRESHOLD, 32 MiB)</c> (glibc's largest, which also stops the
    /// adjusting) and <c>mallopt(M_TRIM_THRESHOLD, trimThresholdBytes)</c>. The environment variable
    /// <c>GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824</c> does the same
    /// for a process you cannot change. Scorers already keep each tensor under 32 MiB (they lower their chunk size when
    /// needed), so the mmap threshold covers all of them.</para>
    /// <para><b>Cost.</b> Up to <paramref name="trimThresholdBytes"/> of freed memory stays in the process's resident
    /// size after a peak, ready for the next call. Call it once, at the start of the application. Calling it again is
    /// harmless. Results do not change, only speed.</para>
    /// </remarks>
    /// <param name="trimThresholdBytes">Freed memory kept for reuse at the top of each heap, in bytes (default 1 GiB).</param>
    /// <returns>True when glibc took both settings; false elsewhere (musl, macOS, Windows): nothing changed.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trimThresholdBytes"/> is below 32 MiB or above <see cref="int.MaxValue"/>.</exception>
    public static bool RetainFreedMemory(long trimThresholdBytes = 1L << 30)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trimThresholdBytes, GlibcMalloc.MaxMmapThreshold);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(trimThresholdBytes, int.MaxValue);
        lock (Gate)
        {
            return GlibcMalloc.TrySet((int)trimThresholdBytes);
        }
    }

    /// <summary>
    /// Lets the folded inference copy share each managed convolution of one image with a helper thread, which spins
    /// while a call uses it and for 0.5 ms after, and sleeps otherwise. An application's decision, for the whole process: FlowOod itself never
    /// calls it, and by default one image is computed on the calling thread alone.
    /// </summary>
    /// <remarks>
    /// <para><b>What it changes.</b> One float32 or bf16 CPU image through an inference copy
    /// (<c>ConditionerPrecision.CreateInferenceCopy</c>) runs its ResNet st-networks in managed code. With this on, and
    /// when the application gives libtorch more than one intra-op thread (<c>torch.set_num_threads</c>), each of their
    /// convolutions and BatchNorm–ReLU passes is cut into chunks that the calling thread takes from the first rows and one
    /// helper thread from the last; one caller at a time gets the helper, the others compute alone. Results do not
    /// change, bit for bit; only timing does.</para>
    /// <para><b>Trade-off, measured</b> (compact RealNVP, one image, 2-core AMD EPYC family 26, 2 intra-op threads;
    /// docs/performance.md): with nothing else running, the median dropped by 8–33% (by 15–20% in the last measurement,
    /// 3.82 to 3.23 ms fp32) and p99 stayed level, but one call in a thousand took up to 3–5× longer, when something else
    /// preempted the helper; beside another runtime's spinning threads (ONNX Runtime's, in the bench), p50 dropped 12%
    /// and p99 rose 50%. Turn it on where the median matters more than the tail and the cores are not shared.</para>
    /// </remarks>
    /// <param name="enabled">True to share one image's convolutions with the helper thread; false (the default) to
    /// compute them on the calling thread alone.</param>
    public static void UseSingleImageHelperThread(bool enabled = true) => Volatile.Write(ref _singleImageHelperThread, enabled);

    /// <summary>Whether <see cref="UseSingleImageHelperThread"/> turned the helper thread on (read by the inference path).</summary>
    internal static bool SingleImageHelperThread => Volatile.Read(ref _singleImageHelperThread);

    private static string Diagnose(Exception failure)
    {
        var baseDirectory = AppContext.BaseDirectory;
        var glue = Path.Combine(baseDirectory, "libLibTorchSharp.so");
        var glueRid = Path.Combine(baseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var isLinux = RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
        var gluePath = File.Exists(glue) ? glue : File.Exists(glueRid) ? glueRid : null;

        if (isLinux && gluePath is not null)
        {
            return "TorchSharp's native backend is present but libLibTorchSharp.so could not be loaded. The usual cause on "
                + "Linux is a C++ runtime older than GCC 13.2: TorchSharp 0.107 needs the symbol version GLIBCXX_3.4.32 "
                + "(Ubuntu 24.04+ and Debian 13+ have it; Debian 12 and Ubuntu 22.04 do not). Check with: ldd "
                + $"'{gluePath}' | grep 'not found'. TorchSharp's own message ('doesn't contain a reference to libtorch-cpu') "
                + "is misleading in this case. Fix: use a newer distribution, or weaken that version need in the "
                + "build-output copy as FlowOod's README ('Platform notes') describes. Original error: "
                + Innermost(failure).Message;
        }

        return "TorchSharp's native backend could not be loaded. FlowOod references the managed TorchSharp package only; "
            + "add exactly one backend package to your application: TorchSharp-cpu, TorchSharp-cuda-linux or "
            + "TorchSharp-cuda-windows (or a libtorch-* 2.10.0 package), and run it as a 64-bit process. Original error: "
            + Innermost(failure).Message;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
