using System.IO;
using FlowOod.Tests.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Runtime;

// libtorch asks NNPACK to initialise each time it considers it for a float32 convolution oneDNN declines (a batch of one
// small image); on a processor NNPACK's CPU detection does not know (AMD EPYC family 26) that fails and libtorch logs
// "Could not initialize NNPACK! Reason: Unsupported hardware." on every such call. FlowOodRuntime.DisableNnpack is the
// application's opt-in; the flowood tool makes it at start.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class NnpackLogTests
{
    [Fact]
    public void FlowoodTool_ScoringSingleImagesWithTwoThreads_PrintsNoNnpackLine()
    {
        // Regression: on this build machine's CPU the score run below printed 132 NNPACK lines (66 per image).
        var tool = Path.Combine(NativeLoadTests.ToolOutputFolder(), "FlowOod.Cli.dll");
        using var folder = new TempFolder();
        var model = Path.Combine(folder.Path, "tiny.flowood");

        var (trainCode, trainOutput) = NativeLoadTests.Run(
            tool, $"train --model \"{model}\" --flow realnvp --steps 1 --train-images 16 --batch-size 16 --threads 2");
        var (scoreCode, scoreOutput) = NativeLoadTests.Run(
            tool, $"score --model \"{model}\" --ood fashion-test --ood mnist --limit 1 --threads 2");

        trainCode.Should().Be(0, trainOutput);
        scoreCode.Should().Be(0, scoreOutput);
        scoreOutput.Should().Contain("NLL (bits/dim)", "the run scored its images (batches of one: convolutions oneDNN declines)");
        (trainOutput + scoreOutput).Should().NotContain("NNPACK");
    }

    [Fact]
    public void DisableNnpack_TurnsLibTorchsSwitchOff()
    {
        FlowOodRuntime.EnsureAvailable();
        var before = LibTorchContext.NnpackEnabled();
        before.Should().NotBeNull("libtorch_cpu's global context is found on Linux x64");
        try
        {
            FlowOodRuntime.DisableNnpack().Should().BeTrue();
            LibTorchContext.NnpackEnabled().Should().BeFalse();
            FlowOodRuntime.DisableNnpack().Should().BeTrue("calling it again is harmless");
            LibTorchContext.NnpackEnabled().Should().BeFalse();
        }
        finally
        {
            // The switch is process-wide: leave it as this test found it.
            LibTorchContext.TrySetNnpackEnabled(before!.Value);
        }
    }
}
