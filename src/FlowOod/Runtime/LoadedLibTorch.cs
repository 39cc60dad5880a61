using System;
using System.Runtime.InteropServices;

namespace FlowOod;

/// <summary>
/// <c>libtorch_cpu</c> as already loaded by TorchSharp: opening it by its file name finds the loaded copy (one more
/// reference, released on <see cref="Dispose"/>), so no second copy is ever loaded from elsewhere. The native backend
/// must be loaded first (<see cref="FlowOodRuntime.EnsureAvailable"/>).
/// </summary>
/// <remarks>On Linux and macOS a symbol is looked up in the library and then in the libraries it was loaded with
/// (<c>dlsym</c> on its handle), e.g. the OpenMP runtime libtorch links; on Windows in the library alone.</remarks>
internal sealed class LoadedLibTorch : IDisposable
{
    private readonly IntPtr handle;

    private LoadedLibTorch(IntPtr handle) => this.handle = handle;

    /// <summary>The loaded library, or null when it cannot be opened.</summary>
    public static LoadedLibTorch? Open()
    {
        string name = OperatingSystem.IsWindows() ? "torch_cpu.dll"
            : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib"
            : "libtorch_cpu.so";
        return NativeLibrary.TryLoad(name, out var handle) ? new LoadedLibTorch(handle) : null;
    }

    /// <summary>The function exported as <paramref name="symbol"/>, as a delegate of type <typeparamref name="T"/>.</summary>
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

    /// <summary>Releases this reference (TorchSharp's own keeps the library loaded).</summary>
    public void Dispose() => NativeLibrary.Free(handle);
}
