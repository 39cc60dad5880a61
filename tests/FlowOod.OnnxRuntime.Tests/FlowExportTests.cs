using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime.Tests;

/// <summary>
/// Flows trained for a few steps, exported with <see cref="OnnxExport"/> and scored by ONNX Runtime: the bits/dim equal
/// FlowOod's <see cref="NegativeLogLikelihoodScorer"/> (bin-centre noise) within 1e-4 on a few hundred inputs.
/// </summary>
[Collection(TorchGlobalState.Name)]
public sealed class FlowExportTests
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void CompactRealNvp_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(101);
        var flow = RealNvp.Create([1, 8, 8], RealNvpOptions.Compact with { Width = 8, Blocks = 1 });
        AssertSameScores(Trained(flow, Images(256, seed: 1)), Images(300, seed: 2));
    }

    [Fact]
    public void RealNvpWithBottleneckAndWeightNorm_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(102);
        var flow = RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 8, Blocks = 2, WeightNorm = true, Bottleneck = new Bottlenecks.LinearBottleneck(3) });
        AssertSameScores(Trained(flow, Images(256, seed: 3)), Images(200, seed: 4));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Glow_OnnxRuntimeBitsPerDim_MatchFlowOod(bool lu)
    {
        random.manual_seed(103);
        var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny with { Width = 8, LuDecomposedConvolution = lu });
        AssertSameScores(Trained(flow, Images(256, seed: 5)), Images(300, seed: 6));
    }

    [Fact]
    public void SingleScaleRealNvpWithOtherSt_Networks_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(104);
        // Checkerboard + highway, half mask + local, cycle mask + soft clamp on a Glow conv: one coupling each kind.
        long[] shape = [1, 8, 8];
        var steps = new Bijector[]
        {
            new UniformDequantization(), new Logit(0.05),
            new AffineCoupling(shape, CheckerboardMask.Instance, 0, new HighwayConditionerFactory(4, 1)),
            new AffineCoupling(shape, HalfMask.Vertical, 1, new LocalConditionerFactory(3, 4, 1)),
            new AffineCoupling(shape, CycleMask.Instance, 2, new GlowConvConditionerFactory(4), ScaleActivation.SoftClamp(1.5)),
            new AdditiveCoupling(shape, new QuadrantMask(Quadrant.TopLeft, Quadrant.BottomRight), 3, new ResNetConditionerFactory(4, 1)),
        };
        var flow = new NormalizingFlow(new Chain(steps), shape, inputRange: (0.0, 1.0), discretizationLevels: 256);
        AssertSameScores(Trained(flow, Images(256, seed: 7)), Images(200, seed: 8));
    }

    [Fact]
    public void AutoregressiveFlow_BothOrdersAndContextLayers_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(107);
        var flow = AutoregressiveFlow.Create([1, 8, 8], new AutoregressiveFlowOptions { Layers = 2, Window = 5, Width = 8, ContextLayers = 1, Blocks = 1 });
        AssertSameScores(Trained(flow, Images(256, seed: 13)), Images(300, seed: 14));
    }

    [Fact]
    public void AutoencoderSt_Network_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(105);
        var flow = SingleScaleRealNvp.Create([1, 16, 16], new SingleScaleRealNvpOptions { Mask = HalfMask.Vertical, Couplings = 2, Conditioner = new AutoencoderConditionerFactory(3) });
        AssertSameScores(Trained(flow, Images(128, seed: 9, size: 16)), Images(100, seed: 10, size: 16));
    }

    [Fact]
    public void TabularFeatureFlow_OnnxRuntimeBitsPerDim_MatchFlowOod()
    {
        random.manual_seed(106);
        var flow = TabularRealNvp.Create(6, new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16, Dropout = 0.1 });
        var steps = new Bijector[] { new ActNorm(6), Permutation.Random(6, seed: 3), new InvertibleConv1x1(6), new LuInvertibleConv1x1(6), flow.Transform };
        var chained = new NormalizingFlow(new Chain(steps), [6]);
        AssertSameScores(Trained(chained, Features(512, seed: 11)), Features(300, seed: 12));
    }

    [Fact]
    public void Export_AUserBijectorWithoutExport_NamesIt()
    {
        random.manual_seed(107);
        var flow = new NormalizingFlow(new Chain(new Logit(0.1), new OpaqueShift()), [4], inputRange: (0.0, 1.0));

        var act = () => OnnxExport.ToBytes(flow);

        act.Should().Throw<NotSupportedException>().WithMessage($"*{typeof(OpaqueShift).FullName}*IOnnxExportable*");
    }

    [Fact]
    public void Export_AUserBijectorWithItsOwnExport_MatchesFlowOod()
    {
        random.manual_seed(108);
        var flow = new NormalizingFlow(new Chain(new Logit(0.1), new ExportableShift(), new AffineCoupling([4], ChannelMask.Instance, 0, new MlpConditionerFactory(8, 1))), [4], inputRange: (0.0, 1.0));
        using var scope = NewDisposeScope();
        var data = rand(new long[] { 64, 4 }, generator: new Generator(5)).mul_(C.Point9).add_(C.Point05, C.One);
        AssertSameScores(Trained(flow, data), data);
    }

    [Fact]
    public void Export_WritesTheFlowsMetadata()
    {
        random.manual_seed(109);
        var flow = RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 });
        flow.eval();
        using var session = new InferenceSession(OnnxExport.ToBytes(flow, new OnnxExportOptions { Metadata = new System.Collections.Generic.Dictionary<string, string> { ["threshold"] = "3.5" } }));

        var metadata = session.ModelMetadata.CustomMetadataMap;
        metadata["flowood.event_shape"].Should().Be("1,4,4");
        metadata["flowood.discretization_levels"].Should().Be("256");
        metadata["flowood.noise"].Should().Be("BinCentres");
        metadata["threshold"].Should().Be("3.5");
        session.ModelMetadata.ProducerName.Should().Be("FlowOod");
        session.InputMetadata[OnnxExport.InputName].Dimensions.Should().Equal(-1, 1, 4, 4);
    }

    private static void AssertSameScores(NormalizingFlow flow, Tensor inputs)
    {
        using var scorer = new NegativeLogLikelihoodScorer(flow, LikelihoodUnit.BitsPerDim, chunkSize: 64, ScoringNoise.BinCentres);
        var expected = scorer.Score(inputs);
        var model = OnnxExport.ToBytes(flow);
        var (nats, bitsPerDim) = OrtScore(model, inputs);

        bitsPerDim.Should().HaveCount(expected.Length);
        var worst = expected.Zip(bitsPerDim, (e, o) => Math.Abs(e - o)).Max();
        worst.Should().BeLessThan(Tolerance, "ONNX Runtime must give FlowOod's bits/dim");
        expected.Distinct().Count().Should().BeGreaterThan(expected.Length / 2, "the inputs must get different scores");
        var d = flow.Dimensions;
        var levels = flow.DiscretizationLevels;
        for (int i = 0; i < nats.Length; i++)
        {
            var fromNats = levels is { } k ? -(nats[i] - (d * Math.Log(k))) / (d * Math.Log(2)) : -nats[i] / (d * Math.Log(2));
            fromNats.Should().BeApproximately(bitsPerDim[i], 1e-5);
        }
    }

    private static (double[] Nats, double[] BitsPerDim) OrtScore(byte[] model, Tensor inputs)
    {
        using var session = new InferenceSession(model);
        var values = inputs.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(values, inputs.shape);
        using var options = new RunOptions();
        using var results = session.Run(options, [OnnxExport.InputName], [input], [OnnxExport.LogLikelihoodOutput, OnnxExport.BitsPerDimOutput]);
        return (results[0].GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray(),
                results[1].GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray());
    }

    internal static NormalizingFlow Trained(NormalizingFlow flow, Tensor data)
    {
        new FlowTrainer(flow, new TrainingOptions { Steps = 15, BatchSize = 32, LearningRate = 3e-3, Seed = 1, ProgressInterval = 100 }).Train(data);
        flow.eval();
        return flow;
    }

    // 8-bit images with structure (a smooth random field plus noise), values k/255.
    internal static Tensor Images(int count, int seed, int size = 8)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var coarse = rand(new long[] { count, 1, 2, 2 }, generator: generator);
        var smooth = nn.functional.interpolate(coarse, [size, size], mode: InterpolationMode.Bilinear, align_corners: true);
        var noisy = smooth.mul_(C.Point8).add_(rand(new long[] { count, 1, size, size }, generator: generator).mul_(C.Point2), C.One);
        return scope.MoveToOuter(noisy.mul_(C.Levels).round_().div_(C.Levels).clamp_(C.Zero, C.One));
    }

    // Correlated continuous features.
    private static Tensor Features(int count, int seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var latent = randn(new long[] { count, 3 }, generator: generator);
        var mixing = randn(new long[] { 3, 6 }, generator: generator);
        return scope.MoveToOuter(latent.matmul(mixing).mul_(C.Point5).add_(randn(new long[] { count, 6 }, generator: generator).mul_(C.Point3), C.One));
    }

    private sealed class OpaqueShift : Bijector
    {
        public OpaqueShift()
            : base(nameof(OpaqueShift))
        {
            RegisterComponents();
        }

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.add(C.One, C.One), zeros(input.shape[0]));

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.add(C.MinusOne, C.One), zeros(input.shape[0]));
    }

    // y = 2x − 1: LogDet = D·log 2.
    private sealed class ExportableShift : Bijector, IOnnxExportable
    {
        public ExportableShift()
            : base(nameof(ExportableShift))
        {
            RegisterComponents();
        }

        public OnnxBijectorOutput ExportForward(OnnxGraphBuilder graph, OnnxValue input)
        {
            var output = graph.Node("Sub", [graph.Node("Mul", [input.Name, graph.Scalar(2.0)]), graph.Scalar(1.0)]);
            return new OnnxBijectorOutput(new OnnxValue(output, input.EventShape), graph.PerExample(input.EventShape[0] * Math.Log(2)));
        }

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) =>
            (input.mul(C.Two).add(C.MinusOne, C.One), ones(input.shape[0]).mul_(C.Log2).mul_(C.Four));

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) =>
            (input.add(C.One, C.One).div(C.Two), ones(input.shape[0]).mul_(C.Log2).mul_(C.MinusFour));
    }

    // Cached Scalars: a temporary Scalar may be freed by its finalizer during the native call that reads it.
    private static class C
    {
        public static readonly Scalar Zero = 0.0.ToScalar();
        public static readonly Scalar One = 1.0.ToScalar();
        public static readonly Scalar MinusOne = (-1.0).ToScalar();
        public static readonly Scalar Two = 2.0.ToScalar();
        public static readonly Scalar Four = 4.0.ToScalar();
        public static readonly Scalar MinusFour = (-4.0).ToScalar();
        public static readonly Scalar Log2 = Math.Log(2).ToScalar();
        public static readonly Scalar Levels = 255.0.ToScalar();
        public static readonly Scalar Point05 = 0.05.ToScalar();
        public static readonly Scalar Point2 = 0.2.ToScalar();
        public static readonly Scalar Point3 = 0.3.ToScalar();
        public static readonly Scalar Point5 = 0.5.ToScalar();
        public static readonly Scalar Point8 = 0.8.ToScalar();
        public static readonly Scalar Point9 = 0.9.ToScalar();
    }
}

/// <summary>
/// Tests that draw a flow's initial parameters from TorchSharp's global generator after seeding it: run alone (no other
/// test draws from the generator meanwhile), so the flows, and the scores compared, are the same at every run.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalState
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Torch global generator";
}
