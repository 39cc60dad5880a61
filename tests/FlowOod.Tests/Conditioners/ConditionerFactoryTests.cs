using System;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ConditionerFactoryTests
{
    public static TheoryData<string, long, long> ImageCasesAndSizes()
    {
        var data = new TheoryData<string, long, long>();
        foreach (var name in ConditionerCases.Image.Keys)
        {
            data.Add(name, 28, 28);
            data.Add(name, 14, 14);
        }

        data.Add("Autoencoder", 29, 15);
        data.Add("Autoencoder", 32, 32);
        data.Add("Autoencoder", 16, 16);
        return data;
    }

    [Theory]
    [MemberData(nameof(ImageCasesAndSizes))]
    public void Create_ImageInput_OutputsRequestedChannelsAtInputResolution(string name, long height, long width)
    {
        random.manual_seed(1);
        using var conditioner = ConditionerCases.Get(name).Create([3, height, width], 4);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var output = conditioner.call(randn(2, 3, height, width));

        output.shape.Should().Equal(2, 4, height, width);
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.VectorNames), MemberType = typeof(ConditionerCases))]
    public void Create_VectorInput_OutputsRequestedFeatures(string name)
    {
        random.manual_seed(2);
        using var conditioner = ConditionerCases.Get(name).Create([3], 6);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var output = conditioner.call(randn(5, 3));

        output.shape.Should().Equal(5, 6);
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.ImageNames), MemberType = typeof(ConditionerCases))]
    public void Create_VectorShapeForImageFactory_ThrowsNamingShapeAndMlpFactory(string name)
    {
        var act = () => ConditionerCases.Get(name).Create([6], 4);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("inputShape")
            .Where(e => e.Message.Contains("[6]") && e.Message.Contains("[C, H, W]") && e.Message.Contains(nameof(MlpConditionerFactory)));
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.VectorNames), MemberType = typeof(ConditionerCases))]
    public void Create_ImageShapeForMlpFactory_ThrowsNamingShapeAndConvolutionalFactories(string name)
    {
        var act = () => ConditionerCases.Get(name).Create([1, 28, 28], 4);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("inputShape")
            .Where(e => e.Message.Contains("[1, 28, 28]") && e.Message.Contains("vector input [D]") && e.Message.Contains("convolutional"));
    }

    [Theory]
    [MemberData(nameof(ConditionerCases.AllNames), MemberType = typeof(ConditionerCases))]
    public void Create_NonPositiveOutputChannels_Throws(string name)
    {
        var act = () => ConditionerCases.Get(name).Create(ConditionerCases.EventShapeFor(name), 0);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(13, 13)]
    [InlineData(28, 13)]
    [InlineData(10, 28)]
    public void AutoencoderCreate_InputNarrowerThan14_ThrowsNamingMinimumAndSize(long height, long width)
    {
        var act = () => new AutoencoderConditionerFactory(8).Create([1, height, width], 2);

        act.Should().Throw<ArgumentException>()
            .WithParameterName("inputShape")
            .Where(e => e.Message.Contains("14×14") && e.Message.Contains($"[1, {height}, {width}]") && e.Message.Contains("stride"));
    }

    [Theory]
    [InlineData(28, 2, 4)]
    [InlineData(14, 1, 2)]
    [InlineData(32, 2, 5)]
    [InlineData(16, 1, 4)]
    public void AutoencoderConditioner_PaperInputSizes_CodeShapeMatchesPaperTable(long size, long expectedStride, long expectedCode)
    {
        // Kirichenko et al. (2020)'s autoencoder st-network: 28 → 25 → 22 → 10 → 4 (s = 2); 14 → 11 → 8 → 5 → 2
        // (s = 1); 32: 3200 = 128·5·5; 16: 2048 = 128·4·4.
        using var conditioner = new AutoencoderConditioner([1, size, size], 2, new LinearBottleneck(7));
        var parameters = conditioner.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        conditioner.FeatureShape.Should().Equal(128, expectedCode, expectedCode);
        parameters["encoder.0.weight"].shape.Should().Equal(32, 1, 4, 4);
        parameters["encoder.1.weight"].shape.Should().Equal(64, 32, 4, 4);
        parameters["encoder.2.weight"].shape.Should().Equal(64, 64, 4, 4);
        parameters["encoder.3.weight"].shape.Should().Equal(128, 64, 4, 4);
        parameters["out_conv.weight"].shape.Should().Equal(32, 2, 4, 4);
        expectedStride.Should().Be(size / 14);
    }

    [Fact]
    public void AutoencoderForward_InputOfOtherSize_ThrowsNamingBothShapes()
    {
        using var conditioner = new AutoencoderConditionerFactory(4).Create([1, 14, 14], 2);
        using var scope = NewDisposeScope();

        var act = () => conditioner.call(zeros(2, 1, 16, 16));

        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("[N, 1, 14, 14]") && e.Message.Contains("[2, 1, 16, 16]"));
    }

    [Fact]
    public void MlpForward_WrongFeatureCount_ThrowsNamingBothShapes()
    {
        using var conditioner = new MlpConditionerFactory(8, 1).Create([3], 4);
        using var scope = NewDisposeScope();

        var act = () => conditioner.call(zeros(2, 4));

        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("[N, 3]") && e.Message.Contains("[2, 4]"));
    }

    [Fact]
    public void Constructors_OutOfRangeArguments_Throw()
    {
        new Action(() => _ = new HighwayConditionerFactory(0, 1)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new HighwayConditionerFactory(4, -1)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new GlowConvConditionerFactory(0)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new MlpConditionerFactory(0, 1)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new MlpConditionerFactory(8, -1)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new MlpConditionerFactory(8, 1, dropout: 1.0)).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.Message.Contains("[0, 1)"));
        new Action(() => _ = new MlpConditionerFactory(8, 1, dropout: double.NaN)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new AutoencoderConditionerFactory(0)).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => _ = new AutoencoderConditionerFactory(null!)).Should().Throw<ArgumentNullException>();
        new Action(() => _ = new ResNetConditionerFactory(8, 1, null!)).Should().Throw<ArgumentNullException>();
        new Action(() => _ = new LinearBottleneck(0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void ParameterCount_KnownConfigurations_MatchHandCount()
    {
        // Highway, Cin 1, width 8, 2 layers, Cout 2:
        //   in_conv 3×3: 1·8·9 + 8 = 80; per layer two 3×3 convs 2·(8·8·9 + 8) = 1168, two layers 2336;
        //   out_conv 1×1: 8·2 + 2 = 18. Total 2434.
        using (var highway = new HighwayConditionerFactory(8, 2).Create([1, 6, 6], 2))
        {
            ParameterCount(highway).Should().Be(2434);
        }

        // GlowConv, Cin 1, width 8, Cout 2: 3×3 1·8·9 + 8 = 80; 1×1 8·8 + 8 = 72; 3×3 8·2·9 + 2 = 146. Total 298.
        using (var glow = new GlowConvConditionerFactory(8).Create([1, 6, 6], 2))
        {
            ParameterCount(glow).Should().Be(298);
        }

        // MLP, Din 3, width 8, 2 hidden layers, Dout 4: (3 + 1)·8 = 32; (8 + 1)·8 = 72; (8 + 1)·4 = 36. Total 140.
        using (var mlp = new MlpConditionerFactory(8, 2).Create([3], 4))
        {
            ParameterCount(mlp).Should().Be(140);
        }

        // Autoencoder on [1, 14, 14], Cout 2, l = 10:
        //   encoder 4×4 convs: 1·32·16 + 32 = 544; 32·64·16 + 64 = 32,832; 64·64·16 + 64 = 65,600;
        //     64·128·16 + 128 = 131,200 → 230,176;
        //   bottleneck on 128·2·2 = 512 features: 512·10 + 10 = 5,130; 10·512 + 512 = 5,632 → 10,762;
        //   decoder transposed convs: 128·64·16 + 64 = 131,136; 64·64·16 + 64 = 65,600; 64·32·16 + 32 = 32,800;
        //     32·2·16 + 2 = 1,026 → 230,562.
        //   Total 471,500.
        using (var autoencoder = new AutoencoderConditionerFactory(10).Create([1, 14, 14], 2))
        {
            ParameterCount(autoencoder).Should().Be(471_500);
        }

        // ResNet width 4, 2 blocks, Cin 1, Cout 2 on 6×6, with LinearBottleneck(3), no skips:
        //   in_norm 2; in_conv 3×3 from [x, −x]: 2·4·9 + 4 = 76;
        //   per block: BN 8 + conv 4·4·9 (no bias) 144 + BN 8 + conv 144 + 4 = 308, two blocks 616;
        //   bottleneck on 4·6·6 = 144 features: 144·3 + 3 = 435; 3·144 + 144 = 576 → 1011;
        //   out_norm 8; out_conv 1×1 4·2 + 2 = 10. Total 76 + 2 + 616 + 1011 + 8 + 10 = 1723.
        using (var resnetAe = new ResNetConditionerFactory(4, 2, new LinearBottleneck(3)).Create([1, 6, 6], 2))
        {
            ParameterCount(resnetAe).Should().Be(1723);
        }
    }

    [Fact]
    public void ToString_Factories_DescribeConfiguration()
    {
        new HighwayConditionerFactory(8, 2).ToString().Should().Be("Highway(width=8, layers=2)");
        new GlowConvConditionerFactory(8).ToString().Should().Be("GlowConv(width=8)");
        new MlpConditionerFactory(8, 1).ToString().Should().Be("Mlp(hiddenWidth=8, hiddenLayers=1, dropout=0)");
        new AutoencoderConditionerFactory(100).ToString().Should().Be("Autoencoder(LinearBottleneck(l=100))");
        new ResNetConditionerFactory(8, 1).ToString().Should().Be("ResNet(width=8, blocks=1)");
        new ResNetConditionerFactory(8, 1, new LinearBottleneck(5)).ToString().Should().Be("ResNet(width=8, blocks=1, LinearBottleneck(l=5))");
    }

    private static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}
