using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Onnx;
using FlowOod.Tests.Bijectors;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Onnx;

/// <summary>
/// Every public bijector, mask, bottleneck, st-network factory, scale activation and flow builder of FlowOod (and every
/// built-in component and module) exports to ONNX: the scan fails naming any type without an export or without a case
/// here. The numbers are checked against ONNX Runtime in FlowOod.OnnxRuntime.Tests (FlowExportTests).
/// </summary>
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class OnnxExportRegistryTests
{
    private static readonly Type[] Kinds = [typeof(IMaskStrategy), typeof(IBottleneck), typeof(IConditionerFactory), typeof(ScaleActivation), typeof(IFlowBuilderOptions)];

    private static readonly string[] ModuleNamespaces = ["FlowOod.Conditioners", "FlowOod.Layers", "FlowOod.Bottlenecks"];

    // Component name (or, for a type outside the catalog, its type name) → a flow that uses it.
    private static readonly Dictionary<string, Func<NormalizingFlow>> Cases = new()
    {
        ["checkerboard"] = () => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 1)),
        ["channel"] = () => SingleScaleRealNvp.Create([2, 4, 4], new SingleScaleRealNvpOptions { Mask = ChannelMask.Instance, Couplings = 2, Conditioner = new ResNetConditionerFactory(4, 1) }),
        ["cycle"] = () => SingleScale(CycleMask.Instance, new ResNetConditionerFactory(4, 1)),
        ["half"] = () => SingleScale(HalfMask.Vertical, new ResNetConditionerFactory(4, 1)),
        ["quadrant"] = () => SingleScale(new QuadrantMask(Quadrant.TopRight, Quadrant.BottomLeft), new ResNetConditionerFactory(4, 1)),
        [nameof(CustomMask)] = () => SingleScale(new CustomMask((shape, layer) => CheckerboardMask.Instance.Create(shape, layer)), new ResNetConditionerFactory(4, 1)),
        ["none"] = () => RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 }),
        ["linear"] = () => RealNvp.Create([1, 4, 4], new RealNvpOptions { Scales = 1, Width = 4, Blocks = 2, Bottleneck = new LinearBottleneck(2) }),
        ["resnet"] = () => SingleScale(CheckerboardMask.Instance, new ResNetConditionerFactory(4, 1, NoBottleneck.Instance, weightNorm: true)),
        ["highway"] = () => SingleScale(CheckerboardMask.Instance, new HighwayConditionerFactory(4, 1)),
        ["local"] = () => SingleScale(CheckerboardMask.Instance, new LocalConditionerFactory(3, 4, 1)),
        ["glowConv"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, Conditioner = new GlowConvConditionerFactory(4) }),
        ["mlp"] = () => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8, Dropout = 0.1 }),
        ["autoencoder"] = () => SingleScaleRealNvp.Create([1, 16, 16], new SingleScaleRealNvpOptions { Mask = HalfMask.Vertical, Couplings = 2, Conditioner = new AutoencoderConditionerFactory(3) }),
        ["realNvpTanh"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.RealNvpTanh }),
        ["glowSigmoid"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.GlowSigmoid }),
        ["softClamp"] = () => Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = ScaleActivation.SoftClamp(0.75) }),
        ["RealNvp"] = () => RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 4, Blocks = 1 }),
        ["Glow"] = () => Glow.Create([1, 8, 8], GlowOptions.Tiny with { Scales = 2, Width = 4, LuDecomposedConvolution = false }),
        ["SingleScaleRealNvp"] = () => SingleScale(HalfMask.Horizontal, new ResNetConditionerFactory(4, 1)),
        ["AutoregressiveFlow"] = () => AutoregressiveFlow.Create([1, 4, 4], new AutoregressiveFlowOptions { Layers = 2, Window = 3, Width = 4, ContextLayers = 1, Blocks = 1 }),
        ["TabularRealNvp"] = () => TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 8 }),
        ["bijectors"] = () => new NormalizingFlow(
            new Chain(
                new ActNorm(4), new InvertibleConv1x1(4), new LuInvertibleConv1x1(4), Permutation.Reverse(4), new InverseOf(Permutation.Random(4, 2)),
                new AdditiveCoupling([4], ChannelMask.Instance, 0, new MlpConditionerFactory(8, 1)), new FactorOut(2, new Chain(new ActNorm(2), new InverseOf(new InverseOf(Permutation.Reverse(2)))))),
            [4]),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    public static TheoryData<string> BijectorCaseNames => BijectorCases.Names();

    [Fact]
    public void EveryPublicBijector_HasABuiltInExport()
    {
        var types = typeof(NormalizingFlow).Assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && typeof(Bijector).IsAssignableFrom(t))
            .ToArray();
        types.Should().Contain(typeof(ActNorm), "the scan must find FlowOod's bijectors");
        var missing = types.Where(t => !typeof(IOnnxBuiltInBijector).IsAssignableFrom(t)).Select(t => t.FullName).ToArray();
        missing.Should().BeEmpty("every public bijector needs an ONNX export (IOnnxBuiltInBijector)");
        var couplingsWithoutMaths = types
            .Where(t => typeof(CouplingLayer).IsAssignableFrom(t))
            .Where(t => t.GetMethod("ExportCouple", BindingFlags.Instance | BindingFlags.NonPublic)!.DeclaringType != t)
            .Select(t => t.FullName)
            .ToArray();
        couplingsWithoutMaths.Should().BeEmpty("every built-in coupling must export its element-wise map (ExportCouple)");
    }

    [Fact]
    public void EveryBuiltInModule_HasAnExport()
    {
        var types = typeof(NormalizingFlow).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && ModuleNamespaces.Contains(t.Namespace) && typeof(nn.Module).IsAssignableFrom(t))
            .ToArray();
        types.Select(t => t.Name).Should().Contain(["ResNetConditioner", "Conv2dLayer", "LinearBottleneckLayer"], "the scan must find FlowOod's modules");
        types.Where(t => !typeof(IOnnxExportableModule).IsAssignableFrom(t)).Select(t => t.FullName).Should().BeEmpty(
            "every st-network, layer and bottleneck module needs an ONNX export (IOnnxExportableModule)");
    }

    [Fact]
    public void EveryPublicComponentType_HasAnExportCase()
    {
        var types = typeof(NormalizingFlow).Assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && !t.IsInterface && Kinds.Any(k => k.IsAssignableFrom(t)))
            .Concat(ComponentCatalog.BuiltIn.ComponentTypes.Where(t => Kinds.Any(k => k.IsAssignableFrom(t))))
            .Distinct()
            .ToArray();
        types.Should().Contain(typeof(CheckerboardMask), "the scan must find FlowOod's components");
        var missing = types.Where(t => !Cases.ContainsKey(CaseName(t))).Select(t => t.FullName).ToArray();
        missing.Should().BeEmpty("every public component type needs an ONNX export case in OnnxExportRegistryTests.Cases");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Case_Exports(string name)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(17);
        using var flow = Cases[name]();
        var batch = flow.EventShape.Count == 1 ? randn(new long[] { 8 }.Concat(flow.EventShape).ToArray()) : rand(new long[] { 8 }.Concat(flow.EventShape).ToArray());
        ActNorm.InitializeAll(flow, batch);
        flow.eval();

        var model = OnnxExport.ToBytes(flow);

        model.Length.Should().BeGreaterThan(100);
        flow.LogProb(batch).isfinite().all().item<bool>().Should().BeTrue("exporting reads the flow and leaves it usable");
    }

    [Theory]
    [MemberData(nameof(BijectorCaseNames))]
    public void BijectorCase_Exports_OrNamesTheInverseItCannotExport(string name)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var bijectorCase = BijectorCases.Get(name);
        using var bijector = bijectorCase.Create();
        var graph = new OnnxGraphBuilder(OnnxExport.InputName);

        var act = () => graph.Bijector(bijector, new OnnxValue(OnnxExport.InputName, bijectorCase.EventShape));

        if (name.StartsWith("InverseOf(", StringComparison.Ordinal) && !name.StartsWith("InverseOf(Squeeze", StringComparison.Ordinal))
        {
            act.Should().Throw<NotSupportedException>().WithMessage("InverseOf(FlowOod.Bijectors.*) cannot be exported*IOnnxExportable*");
        }
        else
        {
            act().Output.Name.Should().NotBe(OnnxExport.InputName, "every case adds nodes");
            graph.NodeCount.Should().BePositive();
        }
    }

    [Fact]
    public void Export_AUserScaleActivation_NamesIt()
    {
        using var flow = Glow.Create([1, 4, 4], GlowOptions.Tiny with { Scales = 1, Width = 4, ScaleActivation = new Halved() });
        ActNorm.InitializeAll(flow, rand(8, 1, 4, 4));

        var act = () => OnnxExport.ToBytes(flow);

        act.Should().Throw<NotSupportedException>().WithMessage($"*{typeof(Halved).FullName}*IOnnxExportableScaleActivation*");
    }

    [Fact]
    public void Export_AUserSt_Network_NamesIt()
    {
        var coupling = new AffineCoupling([4], ChannelMask.Instance, 0, new OpaqueFactory());
        using var custom = new NormalizingFlow(coupling, [4]);

        var act = () => OnnxExport.ToBytes(custom);

        act.Should().Throw<NotSupportedException>().WithMessage("*OpaqueNet*IOnnxExportableModule*");
    }

    private static string CaseName(Type type) =>
        ComponentCatalog.BuiltIn.ComponentTypes.Contains(type) ? ComponentCatalog.NameOf(type) : type.Name;

    private static NormalizingFlow SingleScale(IMaskStrategy mask, IConditionerFactory conditioner) =>
        SingleScaleRealNvp.Create([1, 4, 4], new SingleScaleRealNvpOptions { Mask = mask, Couplings = 2, Conditioner = conditioner });

    private sealed class Halved : ScaleActivation
    {
        public override Tensor LogScale(Tensor raw, Tensor? learnableScale) => raw.tanh();
    }

    private sealed class OpaqueFactory : IConditionerFactory
    {
        public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null) => new OpaqueNet(inputShape[0], outputChannels);
    }

    private sealed class OpaqueNet : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear linear;

        public OpaqueNet(long input, long output)
            : base(nameof(OpaqueNet))
        {
            linear = nn.Linear(input, output);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => linear.call(input);
    }
}
