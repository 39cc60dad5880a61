using System;
using System.IO;
using FlowOod.Models;
using FlowOod.Persistence;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

/// <summary><c>flowood export-onnx</c>: a saved flow becomes an ONNX file; a missing or non-exportable model is a failure with the reason.</summary>
public sealed class ExportOnnxTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flowood-export-onnx-" + Guid.NewGuid().ToString("N"));

    public ExportOnnxTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void ExportOnnx_ASavedFlow_WritesTheOnnxFile()
    {
        var model = Path.Combine(folder, "flow.flowood");
        var onnx = Path.Combine(folder, "flow.onnx");
        using (var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 }))
        {
            ModelFile.Save(flow, model);
        }

        var (code, output, error) = Run("export-onnx", "--model", model, "--out", onnx);

        code.Should().Be(CliApp.Success, error);
        output.Should().Contain("Exported the flow").And.Contain(onnx);
        new FileInfo(onnx).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void ExportOnnx_AMissingModel_FailsNamingIt()
    {
        var missing = Path.Combine(folder, "missing.flowood");

        var (code, _, error) = Run("export-onnx", "--model", missing, "--out", Path.Combine(folder, "x.onnx"));

        code.Should().Be(CliApp.Failure);
        error.Should().Contain("missing.flowood");
        File.Exists(Path.Combine(folder, "x.onnx")).Should().BeFalse();
    }

    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(args, output, error, plain: true);
        return (code, output.ToString(), error.ToString());
    }
}
