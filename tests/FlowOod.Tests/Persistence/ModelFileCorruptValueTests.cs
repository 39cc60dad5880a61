using System;
using System.IO;
using System.Linq;
using System.Text;
using FlowOod.Detection;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FlowOod.Tests.Data;
using FlowOod.Tests.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

// Files whose checksum is intact (recomputed after the damage, as a tool that rewrites files would) but whose header text
// or stored numbers are broken: each must be refused with a ModelFormatException naming the problem, never load and then
// score NaN or infinity, and never surface an undocumented exception.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ModelFileCorruptValueTests : IDisposable
{
    private const string BatchNormVariance = "flows.0.transform.steps.2.steps.0.st_net.blocks.0.in_norm.running_var";
    private const string CouplingScale = "flows.0.transform.steps.2.steps.0.scale";
    private const string ConvWeight = "flows.0.transform.steps.2.steps.0.st_net.in_conv.weight";
    private const string ActNormLogScale = "flows.0.transform.steps.2.steps.1.log_scale";
    private const string ActNormBias = "flows.0.transform.steps.2.steps.1.bias";
    private const string LuUpper = "flows.0.transform.steps.2.steps.2.upper";
    private const string LuPermutation = "flows.0.transform.steps.2.steps.2.permutation";

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    // Bytes that are not UTF-8: a lone continuation byte, a truncated sequence, an overlong encoding of '/', an encoded
    // surrogate, and 0xFF, each placed inside a header string and, separately, inside a property name.
    [Theory]
    [InlineData("\"FlowOod model\"", 1, new byte[] { 0x80 })]
    [InlineData("\"FlowOod model\"", 3, new byte[] { 0xE2, 0x82 })]
    [InlineData("\"flow\"", 2, new byte[] { 0xC0, 0xAF })]
    [InlineData("\"tensorPrefix\"", 4, new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData("\"name\"", 1, new byte[] { 0xFF })]
    [InlineData("\"kind\"", 2, new byte[] { 0xFE })]
    public void Load_InvalidUtf8InTheHeader_IsAModelFormatExceptionGivingTheOffset(string near, int at, byte[] bytes)
    {
        var surgery = ModelFileSurgery.Open(ValidFlowFile("RealNvp"));
        var header = Encoding.UTF8.GetBytes(surgery.Header);
        var position = surgery.Header.IndexOf(near, StringComparison.Ordinal) + at;
        surgery.RawHeader = [.. header[..position], .. bytes, .. header[position..]];

        Rejects(surgery.Build(), $"*header is not valid UTF-8 (at header byte {position}, file offset {24 + position})*");
    }

    [Theory]
    [InlineData("\"FlowOod model\"", "\"\\ud800FlowOod model\"", "$.format")]
    [InlineData("\"kind\"", "\"ki\\udc00nd\"", "$ (a property name)")]
    public void Load_LoneSurrogateEscapeInTheHeader_IsAModelFormatExceptionNamingWhere(string original, string replacement, string where)
    {
        var surgery = ModelFileSurgery.Open(ValidFlowFile("RealNvp"));
        surgery.Header = surgery.Header.Replace(original, replacement, StringComparison.Ordinal);

        Rejects(surgery.Build(), $"*header holds a string that is not valid Unicode, at or in {where}*");
    }

    [Fact]
    public void ReadInfo_InvalidUtf8InMetadata_IsAModelFormatException()
    {
        var path = folder.Combine("m.flowood");
        using (var flow = TabularRealNvp.Create(3, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 4 }))
        {
            ModelFile.Save(flow, path, new System.Collections.Generic.Dictionary<string, string> { ["note"] = "abc" });
        }

        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        surgery.RawHeader = Encoding.UTF8.GetBytes(surgery.Header).Select(b => b == (byte)'b' ? (byte)0xC3 : b).ToArray();
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.ReadInfo(path);
        act.Should().Throw<ModelFormatException>().WithMessage("*header is not valid UTF-8*");
    }

    [Theory]
    [InlineData("RealNvp", CouplingScale, 0, double.NaN)]
    [InlineData("RealNvp", ConvWeight, 17, double.PositiveInfinity)]
    [InlineData("RealNvp", BatchNormVariance, 2, double.PositiveInfinity)]
    [InlineData("RealNvp", BatchNormVariance, 0, double.NaN)]
    [InlineData("Glow", ActNormLogScale, 1, double.NegativeInfinity)]
    [InlineData("Glow", ActNormBias, 3, double.NaN)]
    [InlineData("Glow", LuUpper, 5, double.PositiveInfinity)]
    [InlineData("Glow", LuPermutation, 0, double.NaN)]
    [InlineData("RealNvpFloat64", CouplingScale, 0, double.NegativeInfinity)]
    public void Load_NonFiniteParameterOrBuffer_IsRefusedNamingTheTensor(string builder, string tensor, int index, double value)
    {
        var surgery = ModelFileSurgery.Open(ValidFlowFile(builder));
        surgery.SetElement(tensor, index, value);

        var kind = value is double.NaN ? "NaN" : value > 0 ? "∞" : "-∞";
        Rejects(surgery.Build(), $"*tensor '{tensor}' holds {kind} at index {index}*");
    }

    [Theory]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(double.NaN)]
    public void LoadDetector_NonFiniteCalibrationScore_IsRefusedNamingTheTensor(double value)
    {
        using var scope = NewDisposeScope();
        var calibration = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var scorer = ScorerPersistenceTests.Create("Nll", calibration);
        var path = folder.Combine("detector.flowood");
        ModelFile.Save(OodDetector.Calibrate(scorer, calibration, 0.2), path);
        ((NegativeLogLikelihoodScorer)scorer).Flow.Dispose();
        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        surgery.SetElement("detector.calibration", 4, value);
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadDetector(path);

        act.Should().Throw<ModelFormatException>().WithMessage("*tensor 'detector.calibration' holds *at index 4*");
    }

    [Fact]
    public void LoadTypicalityTest_InfiniteBootstrapStatistic_IsRefusedNamingTheTensor()
    {
        using var scope = NewDisposeScope();
        var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32, seed: 23);
        var test = TypicalityTest.Fit(flow, ScoringFlows.EightBitImages(40, ScalarType.Float32), batchSize: 4, new TypicalityTestOptions { Alpha = 0.1, BootstrapSamples = 200, Seed = 5 });
        var path = folder.Combine("typicality.flowood");
        ModelFile.Save(test, path);
        flow.Dispose();
        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        surgery.SetElement("typicality.bootstrap", 7, double.PositiveInfinity);
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadTypicalityTest(path);

        act.Should().Throw<ModelFormatException>().WithMessage("*tensor 'typicality.bootstrap' holds ∞ at index 7*");
    }

    [Theory]
    [InlineData("threshold", "1e400")]
    [InlineData("threshold", "-1e400")]
    [InlineData("threshold", "\"NaN\"")]
    [InlineData("targetFalsePositiveRate", "1e999")]
    public void LoadDetector_NonFiniteNumberInTheHeader_NamesTheField(string field, string text)
    {
        using var scope = NewDisposeScope();
        var calibration = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var scorer = ScorerPersistenceTests.Create("Nll", calibration);
        var path = folder.Combine("detector.flowood");
        ModelFile.Save(OodDetector.Calibrate(scorer, calibration, 0.2), path);
        ((NegativeLogLikelihoodScorer)scorer).Flow.Dispose();
        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        var header = surgery.HeaderJson;
        var stored = header["content"]![field]!.ToJsonString();
        surgery.Header = surgery.Header.Replace($"\"{field}\":{stored}", $"\"{field}\":{text}", StringComparison.Ordinal);
        surgery.Header.Should().Contain(text);
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadDetector(path);

        act.Should().Throw<ModelFormatException>().WithMessage($"*$.content.{field} must be a finite number*");
    }

    [Fact]
    public void LoadScorer_TypicalityEntropyOverflowingInTheHeader_NamesTheField()
    {
        using var scope = NewDisposeScope();
        var heldOut = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var scorer = (TypicalityScorer)ScorerPersistenceTests.Create("Typicality", heldOut);
        var path = folder.Combine("typicality.flowood");
        ModelFile.Save(scorer, path);
        scorer.Flow.Dispose();
        var surgery = ModelFileSurgery.Open(File.ReadAllBytes(path));
        var stored = surgery.HeaderJson["content"]!["entropy"]!.ToJsonString();
        surgery.Header = surgery.Header.Replace($"\"entropy\":{stored}", "\"entropy\":-2e308", StringComparison.Ordinal);
        File.WriteAllBytes(path, surgery.Build());

        var act = () => ModelFile.LoadScorer(path);

        act.Should().Throw<ModelFormatException>().WithMessage("*$.content.entropy must be a finite number*");
    }

    // The loader refuses such files, so the writer refuses to make them: a diverged flow fails at Save, naming the
    // tensor, and leaves an existing file at the path untouched.
    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Save_FlowWithANonFiniteParameter_IsRefusedNamingTheTensor_AndWritesNothing(double value)
    {
        using var scope = NewDisposeScope();
        var (flow, _) = ModelFileTests.Prepared("RealNvp");
        var path = folder.Combine("diverged.flowood");
        ModelFile.Save(flow, path);
        var before = File.ReadAllBytes(path);
        var (name, parameter) = flow.named_parameters().First(p => p.name.EndsWith("in_conv.weight", StringComparison.Ordinal));
        using (no_grad())
        {
            parameter.flatten()[3] = value;
        }

        var act = () => ModelFile.Save(flow, path);

        act.Should().Throw<ArgumentException>().WithMessage($"*tensor '{name}' holds {value} at index 3*");
        File.ReadAllBytes(path).Should().Equal(before);
        flow.Dispose();
    }

    private byte[] ValidFlowFile(string builder)
    {
        using var scope = NewDisposeScope();
        var (flow, _) = ModelFileTests.Prepared(builder);
        var path = folder.Combine(builder + ".flowood");
        ModelFile.Save(flow, path);
        flow.Dispose();
        return File.ReadAllBytes(path);
    }

    private void Rejects(byte[] file, string message)
    {
        var path = folder.Write("bad.flowood", file);
        var act = () => ModelFile.LoadFlow(path);
        act.Should().Throw<ModelFormatException>().WithMessage(message);
    }
}
