using System;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;

namespace FlowOod.Samples.GateService;

/// <summary>Starts the gate service: <c>./build.sh serve --urls http://127.0.0.1:5080</c>.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            // A service owns its process: NNPACK off, so libtorch does not log a warning line per single-image request on
            // processors NNPACK does not know (process-wide; before the first tensor).
            FlowOodRuntime.DisableNnpack();
            await using var app = GateServiceApp.Build(args);
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (InvalidDataException e)
        {
            // A damaged or mismatched model file (GateModels.Verify): the message names it and says what to do.
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 3;
        }
        catch (FlowOodRuntimeException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
