using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Tests.Data;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The Glow builder end to end on tiny 1x8x8 images.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GlowTests
{
    private static readonly long[] ImageShape = [1, 8, 8];

    [Fact]
    public void Create_TinyPreset_InitialisesEveryActNormAndGivesFiniteLogProbAndExactRoundTrip()
    {
        random.manual_seed(1);
        using var flow = Glow.Create(ImageShape, GlowOptions.Tiny);
        flow.to(ScalarType.Float64);
        using var scope = NewDisposeScope();
        var images = EightBitImages(16, ScalarType.Float64);

        var initialised = ActNorm.InitializeAll(flow, images);

        initialised.Should().Be(GlowOptions.Tiny.Scales * GlowOptions.Tiny.StepsPerScale);
        ActNorms(flow).Should().OnlyContain(a => a.IsInitialized);
        flow.eval();
        using var noGrad = no_grad();
        var logProb = flow.LogProb(images);
        logProb.shape.Should().Equal(16);
        logProb.ShouldBeAllFinite("log p(x) of a fresh Glow");
        var (latent, _) = flow.Transform.Forward(images);
        latent.shape.Should().Equal(16, 1, 8, 8);
        var (recovered, _) = flow.Transform.Inverse(latent);
        recovered.ShouldEqualExactly(images, "Inverse(Forward(x)) on 8-bit images");
    }

    [Fact]
    public void LogProb_BeforeActNormInitialisation_ThrowsInvalidOperationException()
    {
        random.manual_seed(2);
        using var flow = Glow.Create(ImageShape, GlowOptions.Tiny);
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => flow.LogProb(EightBitImages(4)))
            .Should().Throw<InvalidOperationException>().WithMessage("*ActNorm*not initialised*InitializeFrom*");
    }

    [Fact]
    public void Train_FiveStepsAfterInitialisation_LossAndLogProbStayFinite()
    {
        random.manual_seed(3);
        using var flow = Glow.Create(ImageShape, GlowOptions.Tiny);
        using var data = EightBitImages(64);
        using (var firstBatch = data.narrow(0, 0, 32))
        {
            ActNorm.InitializeAll(flow, firstBatch);
        }

        var result = new FlowTrainer(flow, new TrainingOptions { Steps = 5, BatchSize = 16, LearningRate = 1e-3, Seed = 4 })
            .Train(data, cancellationToken: TestContext.Current.CancellationToken);

        result.Steps.Should().Be(5);
        double.IsFinite(result.FinalLoss).Should().BeTrue($"the final loss {result.FinalLoss} must be finite");
        using var scope = NewDisposeScope();
        flow.LogProb(data).ShouldBeAllFinite("log p(x) after training");
        flow.Sample(4).ShouldBeAllFinite("samples after training");
    }

    [Fact]
    public void Load_FlowSavedAfterInitialisation_KeepsActNormsInitialisedAndGivesIdenticalLogProb()
    {
        random.manual_seed(5);
        var options = GlowOptions.Tiny with { DequantizationNoise = false };
        using var folder = new TempFolder();
        var path = folder.Combine("glow.bin");
        using var trained = Glow.Create(ImageShape, options);
        trained.to(ScalarType.Float64);
        using (var batch = EightBitImages(16, ScalarType.Float64))
        {
            ActNorm.InitializeAll(trained, batch);
        }

        trained.eval();
        trained.save(path);
        using var fresh = Glow.Create(ImageShape, options);
        fresh.to(ScalarType.Float64);
        ActNorms(fresh).Should().OnlyContain(a => !a.IsInitialized);

        fresh.load(path);
        fresh.eval();

        ActNorms(fresh).Should().OnlyContain(a => a.IsInitialized);
        ActNorm.InitializeAll(fresh, EightBitImages(4, ScalarType.Float64)).Should().Be(0, "a loaded flow is never re-initialised");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = EightBitImages(8, ScalarType.Float64);
        fresh.LogProb(images).ShouldEqualExactly(trained.LogProb(images), "log p(x) after save → load");
    }

    [Theory]
    [InlineData(true, typeof(LuInvertibleConv1x1))]
    [InlineData(false, typeof(InvertibleConv1x1))]
    public void Create_ConvolutionOption_UsesTheChosenOneByOneConvolution(bool lu, Type expected)
    {
        using var flow = Glow.Create(ImageShape, GlowOptions.Tiny with { LuDecomposedConvolution = lu });

        var modules = flow.modules().ToList();

        modules.Count(m => m.GetType() == expected).Should().Be(4);
        modules.OfType<AffineCoupling>().Should().HaveCount(4)
            .And.OnlyContain(c => c.ScaleActivation == ScaleActivation.GlowSigmoid && c.IsChannelStructured);
    }

    [Theory]
    [InlineData(new long[] { 1, 6, 8 })]
    [InlineData(new long[] { 8, 8 })]
    public void Create_ShapeNotFittingTheScales_ThrowsArgumentException(long[] shape)
    {
        FluentActions.Invoking(() => Glow.Create(shape, GlowOptions.Tiny)).Should().Throw<ArgumentException>().WithMessage($"*{string.Join(", ", shape)}*");
    }

    [Fact]
    public void Validate_OutOfRangeOptions_Throw()
    {
        FluentActions.Invoking(() => (GlowOptions.Tiny with { StepsPerScale = 0 }).Validate()).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => (GlowOptions.Tiny with { Scales = 0 }).Validate()).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => (GlowOptions.Tiny with { LogitAlpha = 0.5 }).Validate()).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => (GlowOptions.Tiny with { ScaleActivation = null! }).Validate()).Should().Throw<ArgumentNullException>();
    }

    private static ActNorm[] ActNorms(NormalizingFlow flow) => flow.modules().OfType<ActNorm>().ToArray();

    private static Tensor EightBitImages(long n, ScalarType dtype = ScalarType.Float32) =>
        randint(0, 256, [n, .. ImageShape], dtype: dtype).DivideInPlace(255.0);
}
