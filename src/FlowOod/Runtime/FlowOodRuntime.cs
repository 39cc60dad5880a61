using System;
using System.IO;
using System.Runtime.InteropServices;
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
