using System;
using System.Linq;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

public sealed class OnnxClassifierTests
{
    private static readonly Lazy<TwinMlp> Twin = new(() => TwinMlp.Train(seed: 1));

    [Fact]
    public void Forward_GivesTheTorchSharpTwinsLogits_Within1e5()
    {
        using var scope = NewDisposeScope();
        using var classifier = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: false));
        var inputs = TwinMlp.Data(64, seed: 7);

        var onnx = classifier.call(inputs);
        var torchLogits = Twin.Value.Model.call(inputs);

        onnx.shape.Should().Equal(64, 3);
        onnx.dtype.Should().Be(ScalarType.Float32);
        Max(onnx.sub(torchLogits).abs_()).Should().BeLessThan(1e-5f);
        classifier.training.Should().BeFalse("Load returns the module in evaluation mode");
        classifier.InputName.Should().Be("input");
        classifier.LogitsOutputName.Should().Be("logits");
        classifier.InputShape.Should().Equal(1, 4, 4);
        classifier.named_buffers().Select(b => b.name).Should().Equal(OnnxClassifier.FingerprintBuffer);
        classifier.parameters().Should().BeEmpty();
        classifier.named_modules().Select(m => m.name).Should().NotContain(OnnxClassifier.FeatureLayer, "no feature output was configured");
    }

    [Fact]
    public void Forward_WithAFeatureOutput_PassesTheEmbeddingThroughTheFeaturesLayer()
    {
        using var scope = NewDisposeScope();
        using var classifier = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: true), new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        var inputs = TwinMlp.Data(10, seed: 8);
        var layer = (nn.Module<Tensor, Tensor>)classifier.named_modules().Single(m => m.name == OnnxClassifier.FeatureLayer).module;
        Tensor? seen = null;
        using var hook = new HookScope(layer.register_forward_hook((_, _, output) =>
        {
            seen = output.clone().MoveToOuterDisposeScope();
            return null!;
        }));

        var logits = classifier.call(inputs);

        seen.Should().NotBeNull();
        seen!.shape.Should().Equal(10, 8);
        Max(seen.sub(Twin.Value.Trunk.call(inputs)).abs_()).Should().BeLessThan(1e-5f);
        Max(logits.sub(Twin.Value.Model.call(inputs)).abs_()).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Forward_AModelWithAFixedBatchOfOne_RunsInputByInput()
    {
        using var scope = NewDisposeScope();
        using var fixedBatch = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: true, batch: 1L), new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        using var freeBatch = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: true), new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        var inputs = TwinMlp.Data(7, seed: 12);

        var logits = fixedBatch.call(inputs);

        logits.shape.Should().Equal(7, 3);
        Max(logits.sub(freeBatch.call(inputs)).abs_()).Should().BeLessThan(1e-6f);
        var twoFixed = () => OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: false, batch: 2L));
        twoFixed.Should().Throw<ArgumentException>().WithMessage("*fixed batch of 2*");
    }

    [Fact]
    public void InputShape_ForAModelWithSymbolicDimensions_IsFreeOrTheOptionsAndIsChecked()
    {
        using var scope = NewDisposeScope();
        // input [N, 1, H, W] → Flatten → "flat" [N, F]: 2-D, so it serves as logits.
        var graph = OnnxWriter.Graph(
            "flatten_only",
            [OnnxWriter.Node("Flatten", "flatten", ["input"], ["flat"], OnnxWriter.IntAttribute("axis", 1))],
            [],
            [OnnxWriter.ValueInfo("input", "N", 1, "H", "W")],
            [OnnxWriter.ValueInfo("flat", "N", "F")]);
        var model = OnnxWriter.Model(graph);
        using var free = OnnxClassifier.Load(model);
        using var given = OnnxClassifier.Load(model, new OnnxClassifierOptions { InputShape = [1, 4, 4] });

        free.InputShape.Should().Equal(1, -1, -1);
        free.call(zeros([2, 1, 3, 5])).shape.Should().Equal(2, 15);
        given.InputShape.Should().Equal(1, 4, 4);
        given.call(zeros([2, 1, 4, 4])).shape.Should().Equal(2, 16);
        var wrong = () => given.call(zeros([2, 1, 3, 5]));
        wrong.Should().Throw<ArgumentException>().Where(e => e.ParamName == "input" && e.Message.Contains("[N, 1, 4, 4]"));
        var conflicting = () => OnnxClassifier.Load(model, new OnnxClassifierOptions { InputShape = [2, 4, 4] });
        conflicting.Should().Throw<ArgumentException>().WithMessage("*InputShape [2, 4, 4] does not fit*[N, 1, H, W]*");
    }

    [Fact]
    public void GateFit_OnFeaturesWithoutAFeatureOutput_ThrowsNamingTheLayer()
    {
        using var scope = NewDisposeScope();
        using var classifier = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: true));

        var fit = () => FlowOod.Gating.OodGate.Fit(classifier, TwinMlp.Data(100, seed: 13), new FlowOod.Gating.OodGateOptions { FeatureLayer = OnnxClassifier.FeatureLayer });

        fit.Should().Throw<ArgumentException>().WithMessage("*'features'*");
    }

    [Fact]
    public void Load_FromAFile_EqualsLoadFromBytes()
    {
        using var scope = NewDisposeScope();
        var bytes = Twin.Value.Onnx(embeddingOutput: false);
        var path = System.IO.Path.Combine(System.IO.Directory.CreateTempSubdirectory("flowood-onnx-").FullName, "twin.onnx");
        System.IO.File.WriteAllBytes(path, bytes);
        try
        {
            using var fromFile = OnnxClassifier.Load(path);
            using var fromBytes = OnnxClassifier.Load(bytes);
            var inputs = TwinMlp.Data(5, seed: 9);

            fromFile.ModelSha256.Should().Be(fromBytes.ModelSha256).And.Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            fromFile.call(inputs).data<float>().ToArray().Should().Equal(fromBytes.call(inputs).data<float>().ToArray());
        }
        finally
        {
            System.IO.Directory.Delete(System.IO.Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Forward_WrongDtypeOrShape_ThrowsArgumentExceptionNamingInput()
    {
        using var scope = NewDisposeScope();
        using var classifier = OnnxClassifier.Load(Twin.Value.Onnx(embeddingOutput: false));

        var wrongDtype = () => classifier.call(zeros([2, 1, 4, 4], ScalarType.Float64));
        var wrongShape = () => classifier.call(zeros([2, 1, 5, 4]));
        var noBatch = () => classifier.call(zeros([1, 4, 4]));

        wrongDtype.Should().Throw<ArgumentException>().Where(e => e.ParamName == "input" && e.Message.Contains("float32") && e.Message.Contains("[N, 1, 4, 4]"));
        wrongShape.Should().Throw<ArgumentException>().Where(e => e.ParamName == "input" && e.Message.Contains("[2, 1, 5, 4]"));
        noBatch.Should().Throw<ArgumentException>().Where(e => e.ParamName == "input");
    }

    [Fact]
    public void Load_UnknownOutputOrInputName_ThrowsListingTheModelsInputsAndOutputs()
    {
        var bytes = Twin.Value.Onnx(embeddingOutput: true);

        var badFeatures = () => OnnxClassifier.Load(bytes, new OnnxClassifierOptions { FeatureOutputName = "penultimate" });
        var badInput = () => OnnxClassifier.Load(bytes, new OnnxClassifierOptions { InputName = "pixels" });
        var sameOutput = () => OnnxClassifier.Load(bytes, new OnnxClassifierOptions { FeatureOutputName = "logits" });
        var badThreads = () => OnnxClassifier.Load(bytes, new OnnxClassifierOptions { IntraOpThreads = 0 });
        var badShape = () => OnnxClassifier.Load(bytes, new OnnxClassifierOptions { InputShape = [1, 4, 5] });

        badFeatures.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options"
            && e.Message.Contains("'penultimate'") && e.Message.Contains("inputs are 'input'") && e.Message.Contains("outputs are 'logits', 'embedding'")
            && e.Message.Contains("ExposeOutput"));
        badInput.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options" && e.Message.Contains("'pixels'") && e.Message.Contains("'input'"));
        sameOutput.Should().Throw<ArgumentException>().WithMessage("*both name 'logits'*");
        badThreads.Should().Throw<ArgumentException>().WithMessage("*IntraOpThreads*");
        badShape.Should().Throw<ArgumentException>().WithMessage("*InputShape [1, 4, 5]*[N, 1, 4, 4]*");
    }

    [Fact]
    public void Load_LogitsThatAreNot2D_OrBytesThatAreNoModel_ThrowClearly()
    {
        // input [N, 1, 4, 4] → Relu → "out" [N, 1, 4, 4]: not logits.
        var graph = OnnxWriter.Graph(
            "relu_only",
            [OnnxWriter.Node("Relu", "relu", ["input"], ["out"])],
            [],
            [OnnxWriter.ValueInfo("input", "N", 1, 4, 4)],
            [OnnxWriter.ValueInfo("out", "N", 1, 4, 4)]);
        var fourD = () => OnnxClassifier.Load(OnnxWriter.Model(graph));
        var garbage = () => OnnxClassifier.Load([1, 2, 3, 4, 5]);

        fourD.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("'out' has rank 4") && e.Message.Contains("[N, C]"));
        garbage.Should().Throw<ArgumentException>().Where(e => e.ParamName == "model" && e.Message.Contains("ONNX Runtime cannot load the model"));
    }

    [Fact]
    public void ExposeOutput_AnInnerValueWithoutValueInfo_BecomesAnOutputWhoseTypeOnnxRuntimeInfers()
    {
        using var scope = NewDisposeScope();
        var hidden = Twin.Value.Onnx(embeddingOutput: false);
        OnnxModels.GraphOutputs(hidden).Should().Equal("logits");

        var exposed = OnnxModels.ExposeOutput(hidden, "embedding");

        exposed.AsSpan(0, hidden.Length).SequenceEqual(hidden).Should().BeTrue("the original bytes stay, the patch is appended");
        OnnxModels.GraphOutputs(exposed).Should().Equal("logits", "embedding");
        using var classifier = OnnxClassifier.Load(exposed, new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        classifier.LogitsOutputName.Should().Be("logits", "the first output stays the default logits");
        CheckEmbedding(classifier);
    }

    [Fact]
    public void ExposeOutput_AValueWithValueInfo_CopiesItsType()
    {
        using var scope = NewDisposeScope();
        var exposed = OnnxModels.ExposeOutput(Twin.Value.Onnx(embeddingOutput: false, embeddingValueInfo: true), "embedding");

        using var classifier = OnnxClassifier.Load(exposed, new OnnxClassifierOptions { FeatureOutputName = "embedding" });

        CheckEmbedding(classifier);
    }

    [Fact]
    public void ExposeOutput_AnExistingOutput_GivesACopy_AndAnUnknownName_ThrowsListingNodeOutputs()
    {
        var model = Twin.Value.Onnx(embeddingOutput: true);

        OnnxModels.ExposeOutput(model, "embedding").Should().Equal(model);
        var unknown = () => OnnxModels.ExposeOutput(model, "penultimate");
        var notAModel = () => OnnxModels.ExposeOutput([0xFF, 0xFF], "embedding");

        unknown.Should().Throw<ArgumentException>().Where(e => e.ParamName == "valueName"
            && e.Message.Contains("'flat', 'hidden', 'embedding', 'logits'"));
        notAModel.Should().Throw<ArgumentException>().Where(e => e.ParamName == "model");
    }

    private static void CheckEmbedding(OnnxClassifier classifier)
    {
        var layer = (nn.Module<Tensor, Tensor>)classifier.named_modules().Single(m => m.name == OnnxClassifier.FeatureLayer).module;
        Tensor? seen = null;
        using var hook = new HookScope(layer.register_forward_hook((_, _, output) =>
        {
            seen = output.clone();
            return null!;
        }));
        var inputs = TwinMlp.Data(6, seed: 10);

        var logits = classifier.call(inputs);

        Max(seen!.sub(Twin.Value.Trunk.call(inputs)).abs_()).Should().BeLessThan(1e-5f);
        Max(logits.sub(Twin.Value.Model.call(inputs)).abs_()).Should().BeLessThan(1e-5f);
    }

    private static float Max(Tensor t)
    {
        using var max = t.max();
        return max.data<float>()[0];
    }

    private sealed class HookScope(nn.Module<Tensor, Tensor>.HookRemover remover) : IDisposable
    {
        public void Dispose() => remover.remove();
    }
}
