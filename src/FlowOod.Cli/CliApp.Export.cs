using System;
using System.CommandLine;
using System.IO;
using FlowOod.Onnx;

namespace FlowOod.Cli;

/// <summary>The verb <c>export-onnx</c>: a flow, scorer or detector file to an ONNX model scored by ONNX Runtime.</summary>
internal static partial class CliApp
{
    private static Command ExportOnnxCommand(TextWriter output, TextWriter error)
    {
        var model = new Option<string>("--model") { Description = "a flow (flowood train), detector (flowood fit-detector, calibrate) or NLL scorer file", Required = true };
        var target = new Option<string>("--out") { Description = "the ONNX file to write (opset 17; input [N, C, H, W] in [0, 1]; outputs log_likelihood and bits_per_dim per image)", Required = true };
        var command = new Command(
            "export-onnx",
            "Exports a saved flow, scorer or detector to ONNX: the flow's scoring graph at the bin centres (ONNX Runtime gives FlowOod's bits/dim), a detector's threshold and calibration scores in the metadata.")
        {
            model, target,
        };
        command.SetAction(p =>
        {
            var modelPath = p.GetValue(model)!;
            var onnxPath = p.GetValue(target)!;
            try
            {
                var kind = OnnxExport.WriteModelFile(modelPath, onnxPath);
                output.WriteLine($"Exported the {kind} {modelPath} to {onnxPath} ({new FileInfo(onnxPath).Length:N0} bytes).");
                return Success;
            }
            catch (NotSupportedException e)
            {
                error.WriteLine($"error: {e.Message}");
                return Failure;
            }
        });
        return command;
    }
}
