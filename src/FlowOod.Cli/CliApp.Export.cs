using System;
using System.CommandLine;
using System.IO;
using FlowOod.Gating;
using FlowOod.Onnx;
using FlowOod.Persistence;

namespace FlowOod.Cli;

/// <summary>
/// The verb <c>export-onnx</c>: a flow, scorer, detector or gate file to an ONNX model scored by ONNX Runtime (FlowOod.OnnxRuntime.Serving).
/// </summary>
internal static partial class CliApp
{
    private static Command ExportOnnxCommand(TextWriter output, TextWriter error)
    {
        var model = new Option<string>("--model")
        {
            Description = "a flow (flowood train), scorer, detector (flowood fit-detector, calibrate; the default image detector too) or gate file (OodGate.Save)",
            Required = true,
        };
        var target = new Option<string>("--out")
        {
            Description = "the ONNX file to write (opset 17; input [N, ...] as the model takes it; outputs log_likelihood and bits_per_dim, and score for scorers computed by the graph)",
            Required = true,
        };
        var featureOutput = new Option<string?>("--feature-output")
        {
            Description = "for a gate file: the name of the value in your classifier's ONNX model that holds the features the gate was fitted on",
        };
        var command = new Command(
            "export-onnx",
            "Exports a saved flow, scorer, detector or gate to ONNX: the flow's scoring graph at the bin centres, or the scorer's whole score (DoSE, rotation prediction, score densities, ...), "
            + "with a detector's or gate's threshold and calibration scores in the metadata. Serve it with FlowOod.OnnxRuntime.Serving (no libtorch).")
        {
            model, target, featureOutput,
        };
        command.SetAction(p =>
        {
            var modelPath = p.GetValue(model)!;
            var onnxPath = p.GetValue(target)!;
            try
            {
                var kind = ModelFile.ReadInfo(modelPath).Kind == "gate"
                    ? ExportGate(modelPath, onnxPath, p.GetValue(featureOutput))
                    : OnnxExport.WriteModelFile(modelPath, onnxPath);
                output.WriteLine($"Exported the {kind} {modelPath} to {onnxPath} ({new FileInfo(onnxPath).Length:N0} bytes).");
                return Success;
            }
            catch (NotSupportedException e)
            {
                error.WriteLine($"error: {modelPath}: {e.Message}");
                return Failure;
            }
        });
        return command;
    }

    // A gate file: its feature flow and calibration, with the classifier's feature output named by the user.
    private static string ExportGate(string gatePath, string onnxPath, string? featureOutput)
    {
        using var saved = SavedGate.Read(gatePath);
        if (!saved.IsFeatureGate)
        {
            throw new NotSupportedException(
                "the gate scores the classifier's inputs with a detector, not its features; ONNX gates (OnnxGate) are feature gates. Save the gate's detector "
                + "(ModelFile.Save(gate.Detector, path)) and export that file: it is served by OnnxFlowModel beside your classifier.");
        }

        if (string.IsNullOrWhiteSpace(featureOutput))
        {
            throw new NotSupportedException(
                $"a gate needs --feature-output: the name of the value in your classifier's ONNX model that holds the features the gate was fitted on "
                + $"(the output of the layer '{saved.FeatureName}' of the TorchSharp classifier).");
        }

        OnnxExport.WriteGate(saved.Detector, saved.InputShape, saved.ClassNames, featureOutput, onnxPath);
        return "gate";
    }
}
