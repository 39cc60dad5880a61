using System;
using System.Globalization;

namespace FlowOod.Cli;

/// <summary>The entry point of the <c>flowood</c> tool.</summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        DisableNnpack();
        // Also the tool's process-wide choice: glibc keeps freed memory for the next tensor instead of returning it to the
        // kernel (float32 scoring after training ran at about half speed on page faults without it).
        FlowOodRuntime.RetainFreedMemory();
        return CliApp.Run(args, Console.Out, Console.Error);
    }

    // The tool owns its process, so it makes the process-wide choice a library must not: NNPACK off, so that libtorch
    // does not log "Could not initialize NNPACK!" for each small convolution on a processor NNPACK does not know.
    private static void DisableNnpack()
    {
        try
        {
            FlowOodRuntime.DisableNnpack();
        }
        catch (FlowOodRuntimeException)
        {
            // The backend cannot load: the verb that needs it reports why (check-runtime says what to do).
        }
    }
}
