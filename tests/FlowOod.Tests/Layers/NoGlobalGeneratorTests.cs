using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Layers;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Tests.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Layers;

/// <summary>
/// Issue 8, no process-wide torch state: loading a model file or copying a flow of FlowOod's own components never reads
/// or advances torch's global generator (their layers skip initialisation, the state is copied in right after), while a
/// user's own build still initialises from it, reproducibly under a seed.
/// </summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class NoGlobalGeneratorTests
{
    private const long Seed = 20261202;

    // CustomMask is missing on purpose: it describes no settings (it may hold a function), so its flows can be neither
    // saved nor copied.
    public static TheoryData<string> Kinds =>
    [
        "RealNvp", "RealNvpWeightNormCycleBottleneck", "RealNvpQuadrant", "SingleScaleCheckerboard", "SingleScaleChannel", "SingleScaleHalfHorizontal",
        "SingleScaleHalfVertical", "SingleScaleCycle", "SingleScaleHighway", "SingleScaleGlowConv", "SingleScaleAutoencoder",
        "SingleScaleResNetLinearBottleneck", "Autoregressive", "GlowLu", "GlowPlainHighway", "Tabular", "TabularDropout",
    ];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Load_BuiltInKind_LeavesTheGlobalGeneratorUntouched_AndScoresLikeTheSavedFlow(string kind)
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var path = folder.Combine("model" + ModelFile.Extension);
        Tensor input, expected;
        using (var flow = Prepared(Build(kind), out input))
        {
            FlowCopy.IsBuiltIn(flow.Architecture!.Component!).Should().BeTrue("every component of {0} is FlowOod's", kind);
            ModelFile.Save(flow, path);
            expected = flow.LogProb(input, ScoringNoise.BinCentres).detach();
        }

        var (state, next) = AroundGlobalGenerator(() =>
        {
            using var loaded = ModelFile.LoadFlow(path);
            return loaded.LogProb(input, ScoringNoise.BinCentres).detach();
        }, out var actual);

        state.Should().BeTrue("loading must leave the global generator's state byte for byte as it was");
        next.Should().BeTrue("the next draw after loading equals the next draw without it");
        actual.eq(expected).all().ReadBoolean().Should().BeTrue("the loaded flow scores bit for bit like the saved one");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Copy_BuiltInKind_LeavesTheGlobalGeneratorUntouched_AndCopiesEveryTensor(string kind)
    {
        using var scope = NewDisposeScope();
        using var flow = Prepared(Build(kind), out var input);
        var expected = flow.LogProb(input, ScoringNoise.BinCentres).detach();

        var (state, next) = AroundGlobalGenerator(() =>
        {
            using var copy = FlowCopy.Of(flow);
            var source = flow.state_dict();
            copy.state_dict().Should().HaveSameCount(source);
            foreach (var (name, tensor) in copy.state_dict())
            {
                tensor.eq(source[name]).all().ReadBoolean().Should().BeTrue(name);
            }

            return copy.LogProb(input, ScoringNoise.BinCentres).detach();
        }, out var actual);

        state.Should().BeTrue();
        next.Should().BeTrue();
        actual.eq(expected).all().ReadBoolean().Should().BeTrue();
    }

    [Fact]
    public void Load_WhileAnotherThreadDrawsFromTheGlobalGenerator_NeverRewindsOrInterleavesItsDraws()
    {
        // A save/restore of the generator's state around the build (the old way) rewinds every draw another thread makes
        // meanwhile, and the build's own draws interleave with that thread's: either shows as a sequence that differs
        // from the same seed's sequence drawn alone.
        using var folder = new TempFolder();
        var path = folder.Combine("model" + ModelFile.Extension);
        using (var flow = Glow.Create([1, 8, 8], new GlowOptions { Scales = 2, StepsPerScale = 2, Width = 8 }))
        {
            ActNormInit(flow);
            ModelFile.Save(flow, path);
        }

        var seen = new List<float>();
        using var stop = new CancellationTokenSource();
        random.manual_seed(Seed);
        var drawer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var value = rand(1);
                seen.Add(value.ReadSingle());
                if (seen.Count % 8 == 0)
                {
                    Thread.Yield();
                }
            }
        });
        drawer.Start();
        const int loads = 20;
        try
        {
            for (int i = 0; i < loads; i++)
            {
                using var loaded = ModelFile.LoadFlow(path);
            }
        }
        finally
        {
            stop.Cancel();
            drawer.Join();
        }

        random.manual_seed(Seed);
        using var alone = rand(seen.Count);
        seen.Should().Equal(alone.data<float>().ToArray(), "{0} loads ran beside the drawing thread's {1} draws", loads, seen.Count);
    }

    [Fact]
    public void Load_ArchitectureWithAUserComponentThatDraws_FallsBackToRestoringTheGeneratorsState()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var path = folder.Combine("model" + ModelFile.Extension);
        var options = new SingleScaleRealNvpOptions { Mask = CheckerboardMask.Instance, Couplings = 2, Conditioner = new DrawingConvFactory() };
        Tensor input, expected;
        using (var flow = Prepared(SingleScaleRealNvp.Create([1, 8, 8], options), out input))
        {
            FlowCopy.IsBuiltIn(flow.Architecture!.Component!).Should().BeFalse("the st-network factory is the test's own");
            ModelFile.Save(flow, path);
            expected = flow.LogProb(input, ScoringNoise.BinCentres).detach();
        }

        var catalog = ModelCatalog.BuiltIn.With<DrawingConvFactory>();
        var (state, next) = AroundGlobalGenerator(() =>
        {
            using var loaded = ModelFile.LoadFlow(path, new ModelLoadOptions { Catalog = catalog });
            return loaded.LogProb(input, ScoringNoise.BinCentres).detach();
        }, out var actual);

        state.Should().BeTrue("the user's nn.Conv2d draws, and the fallback restores the state afterwards");
        next.Should().BeTrue();
        actual.eq(expected).all().ReadBoolean().Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Build_SeededTwice_GivesIdenticalWeights(string kind)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(Seed);
        using var first = Build(kind);
        random.manual_seed(Seed);
        using var second = Build(kind);
        random.manual_seed(Seed + 1);
        using var other = Build(kind);

        var a = first.state_dict();
        var c = other.state_dict();
        foreach (var (name, tensor) in second.state_dict())
        {
            tensor.eq(a[name]).all().ReadBoolean().Should().BeTrue($"{name} is drawn from the seeded global generator");
        }

        a.Any(p => p.Value.is_floating_point() && !p.Value.eq(c[p.Key]).all().ReadBoolean()).Should().BeTrue("another seed gives other weights");
    }

    [Fact]
    public void Layers_Seeded_DrawExactlyTheInitialWeightsOfTorchSharpsModules()
    {
        // The replacement is bit-compatible: same init calls in the same order, so seeded programs keep their models.
        using var scope = NewDisposeScope();
        using var input = randn(3, 4, 9, 9);
        random.manual_seed(Seed);
        using var reference = nn.Conv2d(4, 6, 3, padding: 1);
        random.manual_seed(Seed);
        using var ours = new Conv2dLayer(4, 6, 3, padding: 1);
        SameParameters(ours, reference);
        // Same function, not the same bits: on the CPU our layer convolves with its weight channels-last, another oneDNN
        // kernel than the module's NCHW one, whose rounding differs on some processors (an avx2-only AMD EPYC).
        ours.call(input).sub(reference.call(input)).abs().max().ReadDouble().Should().BeLessThan(1e-5);

        random.manual_seed(Seed);
        using var strided = nn.Conv2d(4, 6, (4, 4), stride: (2, 1));
        random.manual_seed(Seed);
        using var oursStrided = new Conv2dLayer(4, 6, (4, 4), (2, 1));
        SameParameters(oursStrided, strided);
        oursStrided.call(input).sub(strided.call(input)).abs().max().ReadDouble().Should().BeLessThan(1e-5);

        random.manual_seed(Seed);
        using var transposed = nn.ConvTranspose2d(4, 5, (4, 4), stride: (2, 2));
        random.manual_seed(Seed);
        using var oursTransposed = new ConvTranspose2dLayer(4, 5, (4, 4), (2, 2));
        SameParameters(oursTransposed, transposed);
        oursTransposed.forward(input, [21, 20]).eq(transposed.forward(input, [21, 20])).all().ReadBoolean().Should().BeTrue();

        using var rows = randn(5, 7);
        random.manual_seed(Seed);
        using var linear = nn.Linear(7, 3);
        random.manual_seed(Seed);
        using var oursLinear = new LinearLayer(7, 3);
        SameParameters(oursLinear, linear);
        oursLinear.call(rows).eq(linear.call(rows)).all().ReadBoolean().Should().BeTrue();
    }

    [Fact]
    public void BatchNorm2dLayer_TrainsAndEvaluatesLikeTorchSharpsModule()
    {
        using var scope = NewDisposeScope();
        using var reference = nn.BatchNorm2d(3);
        using var ours = new BatchNorm2dLayer(3);
        SameParameters(ours, reference);
        for (int i = 0; i < 3; i++)
        {
            using var batch = randn(4, 3, 5, 5).TimesInPlace(2).PlusInPlace(i);
            ours.call(batch).eq(reference.call(batch)).all().ReadBoolean().Should().BeTrue("training step {0}", i);
        }

        ours.eval();
        reference.eval();
        using var test = randn(2, 3, 5, 5);
        ours.call(test).eq(reference.call(test)).all().ReadBoolean().Should().BeTrue();
        var expected = reference.state_dict();
        ours.state_dict().Keys.Should().Equal(expected.Keys);
        foreach (var (name, tensor) in ours.state_dict())
        {
            tensor.eq(expected[name]).all().ReadBoolean().Should().BeTrue(name);
        }
    }

    [Fact]
    public void Skip_ScopesNestAndStayOnTheirThread()
    {
        ParameterInitialization.IsSkipped.Should().BeFalse();
        using (ParameterInitialization.Skip())
        {
            using (ParameterInitialization.Skip())
            {
                ParameterInitialization.IsSkipped.Should().BeTrue();
            }

            ParameterInitialization.IsSkipped.Should().BeTrue("the outer scope is still open");
            var elsewhere = true;
            var thread = new Thread(() => elsewhere = ParameterInitialization.IsSkipped);
            thread.Start();
            thread.Join();
            elsewhere.Should().BeFalse("another thread builds normally");
        }

        ParameterInitialization.IsSkipped.Should().BeFalse();
    }

    /// <summary>The kinds of <see cref="Kinds"/>, each a small flow of FlowOod's own components.</summary>
    internal static NormalizingFlow Build(string kind) => kind switch
    {
        "RealNvp" => RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1 }),
        "RealNvpWeightNormCycleBottleneck" => RealNvp.Create(
            [1, 8, 8], new RealNvpOptions { Scales = 2, Width = 4, Blocks = 2, Bottleneck = new LinearBottleneck(3), WeightNorm = true, SpatialMask = CycleMask.Instance }),
        "RealNvpQuadrant" => RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1, SpatialMask = new QuadrantMask(Quadrant.TopLeft, Quadrant.BottomRight) }),
        "SingleScaleCheckerboard" => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 1)),
        "SingleScaleChannel" => SingleScaleRealNvp.Create([2, 4, 4], new SingleScaleRealNvpOptions { Mask = ChannelMask.Instance, Couplings = 2, Conditioner = new ResNetConditionerFactory(4, 1) }),
        "SingleScaleHalfHorizontal" => SingleScale(HalfMask.Horizontal, new ResNetConditionerFactory(4, 1)),
        "SingleScaleHalfVertical" => SingleScale(HalfMask.Vertical, new ResNetConditionerFactory(4, 1, NoBottleneck.Instance, weightNorm: true)),
        "SingleScaleCycle" => SingleScale(CycleMask.Instance, new ResNetConditionerFactory(4, 1)),
        "SingleScaleHighway" => SingleScale(CheckerboardMask.Instance, new HighwayConditionerFactory(4, 2)),
        "SingleScaleGlowConv" => SingleScale(CheckerboardMask.Instance, new GlowConvConditionerFactory(4)),
        "SingleScaleAutoencoder" => SingleScaleRealNvp.Create([1, 14, 14], new SingleScaleRealNvpOptions { Mask = HalfMask.Horizontal, Couplings = 2, Conditioner = new AutoencoderConditionerFactory(5) }),
        "SingleScaleResNetLinearBottleneck" => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 2, new LinearBottleneck(3))),
        "Autoregressive" => AutoregressiveFlow.Create([1, 8, 8], new AutoregressiveFlowOptions { Layers = 2, Window = 3, Width = 4, ContextLayers = 1, Blocks = 1 }),
        "GlowLu" => Glow.Create([1, 8, 8], new GlowOptions { Scales = 2, StepsPerScale = 2, Width = 4 }),
        "GlowPlainHighway" => Glow.Create([1, 8, 8], new GlowOptions { Scales = 1, StepsPerScale = 2, Width = 4, LuDecomposedConvolution = false, Conditioner = new HighwayConditionerFactory(4, 1) }),
        "Tabular" => TabularRealNvp.Create(6, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8, HiddenLayers = 2 }),
        "TabularDropout" => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 3, HiddenWidth = 8, Dropout = 0.1 }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static NormalizingFlow SingleScale(IMaskStrategy mask, IConditionerFactory conditioner) =>
        SingleScaleRealNvp.Create([1, 8, 8], new SingleScaleRealNvpOptions { Mask = mask, Couplings = 2, Conditioner = conditioner });

    /// <summary>
    /// Runs <paramref name="action"/> between seeding the global generator and drawing from it, and reports whether the
    /// generator's state after it equals the state before, byte for byte, and whether the next draw equals the draw
    /// that follows the same seed without the action.
    /// </summary>
    private static (bool SameState, bool SameNextDraw) AroundGlobalGenerator(Func<Tensor> action, out Tensor result)
    {
        random.manual_seed(Seed);
        using var reference = rand(16);
        random.manual_seed(Seed);
        using var before = random.get_rng_state();
        result = action();
        using var after = random.get_rng_state();
        using var next = rand(16);
        return (after.data<byte>().ToArray().SequenceEqual(before.data<byte>().ToArray()), next.eq(reference).all().ReadBoolean());
    }

    /// <summary>
    /// Perturbs the parameters (from a local generator: a fresh coupling is the identity), initialises ActNorms, warms up
    /// BatchNorm statistics without dequantization noise and leaves the flow in eval mode; <paramref name="input"/> is a
    /// batch it scores.
    /// </summary>
    internal static NormalizingFlow Prepared(NormalizingFlow flow, out Tensor input)
    {
        using var generator = new Generator(7);
        long[] shape = [6L, .. flow.EventShape];
        input = (flow.EventShape.Count == 1 ? randn(shape, generator: generator) : rand(shape, generator: generator)).MoveToOuterDisposeScope();
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var parameter in flow.parameters())
            {
                parameter.PlusInPlace(randn(parameter.shape, parameter.dtype, generator: generator).TimesInPlace(0.05));
            }
        }

        flow.train();
        ActNormInit(flow, input);
        using (no_grad())
        {
            for (int i = 0; i < 3; i++)
            {
                flow.LogProb(input, ScoringNoise.BinCentres);
            }
        }

        flow.eval();
        return flow;
    }

    private static void ActNormInit(NormalizingFlow flow, Tensor? batch = null)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        FlowOod.Bijectors.ActNorm.InitializeAll(flow, batch ?? rand([8L, .. flow.EventShape], generator: generator));
    }

    private static void SameParameters(nn.Module ours, nn.Module reference)
    {
        var expected = reference.state_dict();
        ours.state_dict().Keys.Should().Equal(expected.Keys, "the same keys in the same order");
        foreach (var (name, tensor) in ours.state_dict())
        {
            tensor.shape.Should().Equal(expected[name].shape, name);
            tensor.eq(expected[name]).all().ReadBoolean().Should().BeTrue($"{name} is drawn exactly as TorchSharp's module draws it");
        }
    }
}

/// <summary>A test-local st-network factory whose TorchSharp convolution draws from the global generator when built.</summary>
[ComponentName("test-drawing-conv")]
internal sealed class DrawingConvFactory : IConditionerFactory, IComponent<DrawingConvFactory>
{
    public static DrawingConvFactory Read(ComponentReader reader) => new();

    public void Write(ComponentWriter writer)
    {
    }

    public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null) =>
        nn.Conv2d(inputShape[0], outputChannels, 3, padding: 1, device: device);
}
