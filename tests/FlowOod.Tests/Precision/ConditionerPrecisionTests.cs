using System;
using System.IO;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Layers;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Precision;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Precision;

// Choosing the st-networks' precision, and the frozen bf16 inference copy: what it converts, what it leaves in fp32,
// and that the copy is still a bijection whose inverse undoes its forward map.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConditionerPrecisionTests
{
    private static readonly ProcessorInfo WithBf16 = ProcessorInfo.Parse("model name : Bf16 Chip\nflags : avx2 fma avx512f avx512_bf16\n");
    private static readonly ProcessorInfo WithoutBf16 = ProcessorInfo.Parse("model name : Plain Chip\nflags : avx2 fma\n");
    private static readonly long[] Shape = [1, 8, 8];

    [Fact]
    public void Choose_AutoOnACpuWithNativeBf16_ChoosesBFloat16()
    {
        var choice = ConditionerPrecision.Choose(ComputePrecision.Auto, CPU, WithBf16);

        choice.Should().Be(new PrecisionChoice(ComputePrecision.Auto, ComputePrecision.BFloat16, "this processor (Bf16 Chip) lists avx512_bf16: bf16 st-networks."));
    }

    [Fact]
    public void Choose_AutoWithoutNativeBf16_FallsBackToFloat32AndSaysWhy()
    {
        var choice = ConditionerPrecision.Choose(ComputePrecision.Auto, null, WithoutBf16);

        choice.Precision.Should().Be(ComputePrecision.Float32);
        choice.Reason.Should().Contain("Plain Chip").And.Contain("neither avx512_bf16 nor amx_bf16").And.Contain("float32");
    }

    [Fact]
    public void Choose_AutoOnAGpu_StaysFloat32AndPointsToTheExplicitRequest()
    {
        var choice = ConditionerPrecision.Choose(ComputePrecision.Auto, new Device(TorchSharp.DeviceType.CUDA, 0), WithBf16);

        choice.Precision.Should().Be(ComputePrecision.Float32);
        choice.Reason.Should().Contain("Request BFloat16 explicitly");
    }

    [Fact]
    public void Choose_ExplicitBFloat16WithoutNativeBf16_IsHonouredWithAWarning()
    {
        var choice = ConditionerPrecision.Choose(ComputePrecision.BFloat16, CPU, WithoutBf16);

        choice.Precision.Should().Be(ComputePrecision.BFloat16);
        choice.Reason.Should().Contain("emulates bf16").And.Contain("slower than float32");
        ConditionerPrecision.Choose(ComputePrecision.Float32, CPU, WithBf16).Precision.Should().Be(ComputePrecision.Float32);
    }

    [Fact]
    public void Choose_UndefinedValue_Throws()
    {
        var act = () => ConditionerPrecision.Choose((ComputePrecision)7);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("requested");
    }

    [Fact]
    public void CreateUnfusedInferenceCopy_Float32_IsFrozenAndScoresBitForBitLikeTheOriginal()
    {
        using var flow = PerturbedRealNvp();
        using var scope = NewDisposeScope();
        var images = EightBitImages(6);
        flow.eval();
        var expected = new NegativeLogLikelihoodScorer(flow).Score(images);
        flow.train();

        using var copy = ConditionerPrecision.CreateUnfusedInferenceCopy(flow, ComputePrecision.Float32);

        copy.IsInEvaluationMode.Should().BeTrue();
        copy.parameters().Should().OnlyContain(p => !p.requires_grad && p.dtype == ScalarType.Float32);
        flow.training.Should().BeTrue("the original is left as it was");
        ConditionerPrecision.Of(copy).Should().Be(ComputePrecision.Float32);
        new NegativeLogLikelihoodScorer(copy).Score(images).Should().Equal(expected);
    }

    [Fact]
    public void CreateInferenceCopy_BFloat16_ConvertsOnlyTheStNetworks()
    {
        using var flow = PerturbedRealNvp();

        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);

        var couplings = copy.modules().OfType<CouplingLayer>().ToArray();
        couplings.Should().NotBeEmpty();
        var stNetParameters = couplings.SelectMany(c => c.Conditioner.parameters()).ToArray();
        stNetParameters.Should().NotBeEmpty().And.OnlyContain(p => p.dtype == ScalarType.BFloat16);
        var others = copy.parameters().Except(stNetParameters).ToArray();
        others.Should().NotBeEmpty("the couplings' scale parameters are not part of an st-network")
            .And.OnlyContain(p => p.dtype == ScalarType.Float32);
        ConditionerPrecision.Of(copy).Should().Be(ComputePrecision.BFloat16);
        ConditionerPrecision.Of(flow).Should().Be(ComputePrecision.Float32);
        flow.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32, "the original is not converted");
    }

    // Trained with bf16 st-networks, a linear-bottleneck flow scored very differently in float32 (IFloat32Only has the
    // numbers), so those couplings keep float32 in training and in inference copies: the copy is the float32 copy.
    [Fact]
    public void CreateInferenceCopy_BFloat16_KeepsBottleneckStNetworksInFloat32()
    {
        using var flow = PerturbedRealNvp(new LinearBottleneck(6));

        using var bf16 = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        using var fp32 = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.Float32);

        bf16.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        ConditionerPrecision.Of(bf16).Should().Be(ComputePrecision.Float32);
        using var images = EightBitImages(16);
        using var bf16Scorer = new NegativeLogLikelihoodScorer(bf16);
        using var fp32Scorer = new NegativeLogLikelihoodScorer(fp32);
        bf16Scorer.Score(images).Should().Equal(fp32Scorer.Score(images), "a float32 st-network computes the same in both copies");
    }

    [Fact]
    public void Train_BFloat16_LeavesBottleneckCouplingsInFloat32AndConvertsTheOthers()
    {
        using var withBottleneck = PerturbedRealNvp(new LinearBottleneck(6));
        using var plain = PerturbedRealNvp();

        using (ConditionerPrecision.Train(withBottleneck, ComputePrecision.BFloat16))
        using (ConditionerPrecision.Train(plain, ComputePrecision.BFloat16))
        {
            ConditionerPrecision.Of(withBottleneck).Should().Be(ComputePrecision.Float32);
            ConditionerPrecision.Of(plain).Should().Be(ComputePrecision.BFloat16);
        }

        ConditionerPrecision.Of(plain).Should().Be(ComputePrecision.Float32, "the scope restores each coupling's setting");
    }

    [Fact]
    public void CreateInferenceCopy_BFloat16_LaysConvolutionWeightsOutChannelsLastWithTheSameValues()
    {
        using var flow = PerturbedRealNvp();

        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);

        var original = flow.modules().OfType<CouplingLayer>().SelectMany(c => c.Conditioner.parameters()).ToArray();
        var converted = copy.modules().OfType<CouplingLayer>().SelectMany(c => c.Conditioner.parameters()).ToArray();
        converted.Should().HaveSameCount(original);
        var convolutions = 0;
        for (int i = 0; i < original.Length; i++)
        {
            using var scope = NewDisposeScope();
            converted[i].shape.Should().Equal(original[i].shape);
            converted[i].eq(original[i].to(ScalarType.BFloat16)).all().item<bool>().Should().BeTrue("only the layout and dtype change, not a value's index");
            if (converted[i].dim() == 4 && converted[i].shape[1] > 1 && converted[i].shape[2] > 1)
            {
                var (o, c, h, w) = (converted[i].shape[0], converted[i].shape[1], converted[i].shape[2], converted[i].shape[3]);
                converted[i].stride().Should().Equal([h * w * c, 1, w * c, c], "k×k convolution weights are channels-last (a 1×1 kernel's strides of size-1 dimensions are arbitrary)");
                convolutions++;
            }
        }

        convolutions.Should().BePositive();
    }

    [Fact]
    public void MixedPrecisionWeightCast_IsChannelsLastAndCarriesTheGradientToTheFloat32Weight()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var weight = randn([4, 3, 3, 3], generator: generator).requires_grad_(true);
        var input = randn([2, 3, 5, 5], generator: generator).to(ScalarType.BFloat16);

        var cast = ConvLayout.For(LowPrecision.Match(weight, input));
        cast.dtype.Should().Be(ScalarType.BFloat16);
        cast.stride().Should().Equal([27, 1, 9, 3]);
        cast.eq(weight.detach().to(ScalarType.BFloat16)).all().item<bool>().Should().BeTrue();
        nn.functional.conv2d(input, cast, padding: [1, 1]).to(ScalarType.Float32).sum().backward();

        weight.grad.Should().NotBeNull();
        weight.grad!.dtype.Should().Be(ScalarType.Float32);
        weight.grad.abs().sum().ReadSingle().Should().BePositive();
    }

    [Fact]
    public void ConvLayout_ChannelsLastConvolution_MatchesTheContiguousOneAndKeepsItsLayout()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(4);
        var weight = randn([6, 5, 3, 3], generator: generator);
        var input = randn([2, 5, 7, 7], generator: generator);

        ConvLayout.IsChannelsLast(weight).Should().BeFalse();
        ConvLayout.NeedsCopy(weight).Should().BeTrue();
        var channelsLast = ConvLayout.For(weight);
        ConvLayout.IsChannelsLast(channelsLast).Should().BeTrue();
        ConvLayout.NeedsCopy(channelsLast).Should().BeFalse();
        ConvLayout.For(channelsLast).Should().BeSameAs(channelsLast);

        var reference = nn.functional.conv2d(input, weight, padding: [1, 1]);
        var output = nn.functional.conv2d(input, channelsLast, padding: [1, 1]);
        output.allclose(reference, rtol: 1e-5, atol: 1e-5).Should().BeTrue("the layout changes only the order of the sums");
        ConvLayout.IsChannelsLast(output).Should().BeTrue("oneDNN answers a channels-last weight in channels-last");
        ConvLayout.IsChannelsLast(randn([3, 1, 1, 1], generator: generator)).Should().BeTrue("size-1 dimensions may have any stride");
    }

    [Fact]
    public void CreateInferenceCopy_BFloat16_EveryCouplingsInverseUndoesItsForwardInFloat32()
    {
        using var flow = PerturbedRealNvp();
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        flow.eval();
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        using var generator = new Generator(11);
        var pairs = copy.modules().OfType<CouplingLayer>().Zip(flow.modules().OfType<CouplingLayer>()).ToArray();
        pairs.Should().HaveCount(10);

        foreach (var (bf16, fp32) in pairs)
        {
            var x = randn([5, .. bf16.Mask.EventShapeArray], generator: generator);
            var (y, logDet) = bf16.Forward(x);
            var (back, inverseLogDet) = bf16.Inverse(y);
            var (fp32Y, _) = fp32.Forward(x);

            y.dtype.Should().Be(ScalarType.Float32);
            logDet.dtype.Should().Be(ScalarType.Float32);
            y.sub(fp32Y).abs().max().ReadDouble().Should().BePositive("bf16 st-networks give (slightly) different s and t");
            back.sub(x).abs().max().ReadDouble().Should().BeLessThan(1e-5, "s and t are recomputed from the same conditioning entries in both directions");
            logDet.Plus(inverseLogDet).abs().max().ReadDouble().Should().BeLessThan(1e-5);
        }
    }

    [Fact]
    public void CreateInferenceCopy_BFloat16_ScoresTheSameFromManyThreads()
    {
        using var flow = PerturbedRealNvp();
        using var scorer = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16), chunkSize: 4, ownsFlow: true);
        using var images = EightBitImages(8);
        var serial = scorer.Score(images);

        var parallel = Concurrency.OnThreads(4, 8, _ => scorer.Score(images));

        parallel.Should().AllSatisfy(scores => scores.Should().Equal(serial));
        serial.Should().OnlyContain(s => double.IsFinite(s));
    }

    [Fact]
    public void ModelFileLoad_WithBFloat16_ConvertsTheLoadedFlowOnce()
    {
        using var flow = PerturbedRealNvp();
        var path = Path.Combine(Path.GetTempPath(), $"flowood-bf16-{Guid.NewGuid():N}.flowood");
        try
        {
            ModelFile.Save(flow, path);
            using var fp32 = new NegativeLogLikelihoodScorer(ModelFile.LoadFlow(path), ownsFlow: true);
            using var bf16 = new NegativeLogLikelihoodScorer(ModelFile.LoadFlow(path, new ModelLoadOptions { Precision = ComputePrecision.BFloat16 }), ownsFlow: true);
            using var images = EightBitImages(4);

            ConditionerPrecision.Of(fp32.Flow).Should().Be(ComputePrecision.Float32);
            ConditionerPrecision.Of(bf16.Flow).Should().Be(ComputePrecision.BFloat16);
            var deltas = fp32.Score(images).Zip(bf16.Score(images), (a, b) => Math.Abs(a - b)).ToArray();
            deltas.Max().Should().BePositive().And.BeLessThan(0.05);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ModelFileSave_OfABFloat16Copy_RefusesAndWritesNothing()
    {
        using var flow = PerturbedRealNvp();
        using var copy = ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16);
        var path = Path.Combine(Path.GetTempPath(), $"flowood-bf16-save-{Guid.NewGuid():N}.flowood");

        var act = () => ModelFile.Save(copy, path);

        act.Should().Throw<NotSupportedException>().WithMessage("*16-bit st-network weights*Save the float32 flow*");
        File.Exists(path).Should().BeFalse();
        Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + "*").Should().BeEmpty("no temporary file is left behind");
    }

    [Fact]
    public void CreateInferenceCopy_Null_Throws()
    {
        var act = () => ConditionerPrecision.CreateInferenceCopy(null!);

        act.Should().Throw<ArgumentNullException>();
    }

    // A small RealNVP whose every parameter is moved off its initial value, so s and t are not zero.
    private static NormalizingFlow PerturbedRealNvp(IBottleneck? bottleneck = null)
    {
        random.manual_seed(5);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 8, Blocks = 1, Bottleneck = bottleneck ?? NoBottleneck.Instance });
        using var noGrad = no_grad();
        using var generator = new Generator(9);
        foreach (var parameter in flow.parameters())
        {
            using var scope = NewDisposeScope();
            parameter.PlusInPlace(randn(parameter.shape, generator: generator).TimesInPlace(0.05));
        }

        return flow;
    }

    private static Tensor EightBitImages(int count)
    {
        using var generator = new Generator(21);
        return rand([count, 1, 8, 8], generator: generator).TimesInPlace(255).floor_().DivideInPlace(255);
    }
}
