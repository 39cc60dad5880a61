using System;
using System.Runtime.InteropServices;

namespace FlowOod;

/// <summary>
/// Reads and writes libtorch's process-wide NNPACK switch (<c>at::globalContext().userEnabledNNPACK()</c>, the setting
/// behind PyTorch's <c>torch.backends.nnpack</c>), which TorchSharp does not expose. Found by its C++ symbol in the
/// loaded <c>libtorch_cpu</c>: the Itanium C++ ABI names of Linux and macOS builds. Where a name is not found (a
/// Windows build, a libtorch without NNPACK's switch) nothing is read or written.
/// </summary>
internal static class LibTorchContext
{
    private const string GlobalContextSymbol = "_ZN2at13globalContextEv";
    private const string SetNnpackSymbol = "_ZN2at7Context20setUserEnabledNNPACKEb";
    private const string GetNnpackSymbol = "_ZNK2at7Context17userEnabledNNPACKEv";

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContext();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetFlag(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool GetFlag(IntPtr context);

    /// <summary>Whether libtorch will try NNPACK for a convolution; null when the switch cannot be found.</summary>
    /// <remarks>The native backend must be loaded (<see cref="FlowOodRuntime.EnsureAvailable"/>).</remarks>
    public static bool? NnpackEnabled()
    {
        using var library = LoadedLibTorch.Open();
        if (library is null || !library.TryGet(GlobalContextSymbol, out GlobalContext context) || !library.TryGet(GetNnpackSymbol, out GetFlag get))
        {
            return null;
        }

        return get(context());
    }

    /// <summary>Sets the switch; false when it cannot be found (nothing changed).</summary>
    /// <remarks>The native backend must be loaded (<see cref="FlowOodRuntime.EnsureAvailable"/>).</remarks>
    public static bool TrySetNnpackEnabled(bool enabled)
    {
        using var library = LoadedLibTorch.Open();
        if (library is null
            || !library.TryGet(GlobalContextSymbol, out GlobalContext context)
            || !library.TryGet(SetNnpackSymbol, out SetFlag set)
            || !library.TryGet(GetNnpackSymbol, out GetFlag get))
        {
            return false;
        }

        var handle = context();
        set(handle, enabled);
        return get(handle) == enabled;
    }
}
