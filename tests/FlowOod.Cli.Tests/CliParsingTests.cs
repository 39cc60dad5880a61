using System;
using System.IO;
using FluentAssertions;
using Xunit;

namespace FlowOod.Cli.Tests;

// Parsing and usage errors: no torch, no data, milliseconds each.
public sealed class CliParsingTests
{
    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(args, output, error, plain: true);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Run_NoVerb_ExitsWithUsageCodeAndSaysACommandIsNeeded()
    {
        var (code, _, error) = Run();

        code.Should().Be(CliApp.Usage);
        error.Should().Contain("command").And.Contain("flowood --help");
    }

    [Fact]
    public void Run_UnknownVerb_ExitsWithUsageCodeNamingIt()
    {
        var (code, _, error) = Run("frobnicate");

        code.Should().Be(2);
        error.Should().Contain("frobnicate");
    }

    [Theory]
    [InlineData("demo --steps abc", "abc")]
    [InlineData("demo --steps 0", "--steps must be a positive integer, got 0")]
    [InlineData("demo --lr -1", "--lr must lie in")]
    [InlineData("compare --flow pixelcnn", "pixelcnn")]
    [InlineData("evaluate --scorer magic", "magic")]
    [InlineData("baseline --out x --budget huge", "huge")]
    [InlineData("baseline --out x --eval-limit 0", "--eval-limit must be a positive integer")]
    [InlineData("latents --out x --budget huge", "huge")]
    [InlineData("latents --out x --draws 0", "--draws must be a positive integer")]
    [InlineData("latents --out x --steps abc", "abc")]
    [InlineData("couplings --out x --budget huge", "huge")]
    [InlineData("couplings --out x --eval-limit -3", "--eval-limit must be a positive integer")]
    [InlineData("couplings --out x --no-such-option", "--no-such-option")]
    [InlineData("negative --out x --budget huge", "huge")]
    [InlineData("negative --out x --bound 0", "--bound must lie in")]
    [InlineData("negative --out x --bound nan", "--bound must lie in")]
    [InlineData("negative --out x --steps 0", "--steps must be a positive integer")]
    [InlineData("negative --out x --eval-limit -1", "--eval-limit must be a positive integer")]
    [InlineData("negative --out x --batch-size 0", "--batch-size must be a positive integer")]
    [InlineData("negative --out x --threads -2", "--threads must be a positive integer")]
    public void Run_BadOptionValue_ExitsWithUsageCodeNamingTheProblem(string commandLine, string expected)
    {
        var (code, _, error) = Run(commandLine.Split(' '));

        code.Should().Be(2);
        error.Should().Contain(expected);
    }

    [Fact]
    public void Run_UnknownOption_ExitsWithUsageCode()
    {
        var (code, _, error) = Run("demo", "--no-such-option", "1");

        code.Should().Be(2);
        error.Should().Contain("--no-such-option").And.Contain("flowood demo --help");
    }

    [Fact]
    public void Run_MissingOodFolder_ExitsWithUsageCodeNamingTheFolder()
    {
        var missing = Path.Combine(Path.GetTempPath(), "flowood-no-such-folder-" + Guid.NewGuid().ToString("N"));

        var (code, _, error) = Run("evaluate", "--ood", "mnist", "--ood", missing);

        code.Should().Be(2);
        error.Should().Contain(missing).And.Contain("folder");
    }

    [Theory]
    [InlineData("baseline")]
    [InlineData("latents")]
    [InlineData("couplings")]
    [InlineData("negative")]
    public void Run_ExperimentWithoutOut_ExitsWithUsageCode(string verb)
    {
        var (code, _, error) = Run(verb);

        code.Should().Be(2);
        error.Should().Contain("--out");
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("compare")]
    [InlineData("compare-scorers")]
    [InlineData("evaluate")]
    [InlineData("baseline")]
    [InlineData("latents")]
    [InlineData("couplings")]
    [InlineData("negative")]
    [InlineData("import-mnist-json")]
    [InlineData("check-runtime")]
    [InlineData("export-onnx")]
    public void Run_VerbHelp_PrintsUsageAndSucceeds(string verb)
    {
        var (code, output, _) = Run(verb, "--help");

        code.Should().Be(0);
        output.Should().Contain("Usage:").And.Contain("flowood");
    }

    [Theory]
    [InlineData("quick")]
    [InlineData("full")]
    public void Run_MissingDataDirectory_ExitsWithFailureNamingTheFolder(string budget)
    {
        var missing = Path.Combine(Path.GetTempPath(), "flowood-no-data-" + Guid.NewGuid().ToString("N"));
        var output = Path.Combine(missing, "out");

        var (code, _, error) = Run("baseline", "--budget", budget, "--out", output, "--data-dir", missing);

        code.Should().Be(CliApp.Failure);
        error.Should().Contain(missing).And.Contain("./build.sh data");
        Directory.Exists(output).Should().BeFalse("nothing is written before the data is loaded");
    }

    [Fact]
    public void Run_ImportMnistJsonFromMissingFolder_ExitsWithFailure()
    {
        var missing = Path.Combine(Path.GetTempPath(), "flowood-no-digits-" + Guid.NewGuid().ToString("N"));

        Run("import-mnist-json", missing, Path.Combine(missing, "out")).ExitCode.Should().Be(CliApp.Failure);
    }

    [Fact]
    public void Run_ImportMnistJsonWithoutArguments_ExitsWithUsageCode()
    {
        Run("import-mnist-json").ExitCode.Should().Be(2);
    }
}
