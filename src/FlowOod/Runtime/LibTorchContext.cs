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
        using var library = LoadedLibrary.Open();
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
        using var library = LoadedLibrary.Open();
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

    // libtorch_cpu as already loaded by TorchSharp: opening it by its file name finds the loaded copy (one more
    // reference, released on Dispose), so no second copy is ever loaded from elsewhere.
    private sealed class LoadedLibrary : IDisposable
    {
        private readonly IntPtr handle;

        private LoadedLibrary(IntPtr handle) => this.handle = handle;

        public static LoadedLibrary? Open()
        {
            string[] names = OperatingSystem.IsWindows() ? ["torch_cpu.dll"]
                : OperatingSystem.IsMacOS() ? ["libtorch_cpu.dylib"]
                : ["libtorch_cpu.so"];
            foreach (var name in names)
            {
                if (NativeLibrary.TryLoad(name, out var handle))
                {
                    return new LoadedLibrary(handle);
                }
            }

            return null;
        }

        public bool TryGet<T>(string symbol, out T function)
            where T : Delegate
        {
            if (NativeLibrary.TryGetExport(handle, symbol, out var address))
            {
                function = Marshal.GetDelegateForFunctionPointer<T>(address);
                return true;
            }

            function = null!;
            return false;
        }

        public void Dispose() => NativeLibrary.Free(handle);
    }
}
