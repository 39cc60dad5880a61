using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Testing;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

// The registry of the conformance suite: every public bijector type, each with a factory and a tiny input shape.
// BijectorRegistryTests fails, naming the type, when a public non-abstract Bijector subclass has no case here.
public static class BijectorCases
{
    private static readonly ResNetConditionerFactory SmallResNet = new(width: 8, blocks: 1);
    private static readonly ResNetConditionerFactory SmallWeightNormResNet = new(width: 4, blocks: 1, NoBottleneck.Instance, weightNorm: true);
    private static readonly ResNetConditionerFactory SmallResNetBottleneck = new(width: 4, blocks: 2, new LinearBottleneck(3));
    private static readonly HighwayConditionerFactory SmallHighway = new(width: 4, layers: 2);
    private static readonly GlowConvConditionerFactory SmallGlowConv = new(width: 4);
    private static readonly MlpConditionerFactory SmallMlp = new(hiddenWidth: 8, hiddenLayers: 2);
    private static readonly AutoencoderConditionerFactory SmallAutoencoder = new(latentSize: 4);

    // An irregular conditioning set over [2, 3, 3] (differs between the channels); its complement is transformed, and
    // the two swap on odd layers.
    private static readonly CustomMask IrregularConditioning = CustomMask.FromConditioning(
        [2, 3, 3],
        [
            true, false, false, true, true, false, false, true, false,
            false, true, true, false, false, true, true, false, true,
        ],
        alternate: true);

    // Channel 0 conditions, channel 1 is transformed, channel 2 is in neither set: not channel-structured (the channels
    // do not split into conditioning and transformed), so the st-network sees the whole event with channels 1 and 2
    // zeroed and channel 2 must pass through untouched.
    private static readonly CustomMask ThirdChannelUntouched = new((shape, _) => new CouplingMask(
        shape,
        [true, true, true, true, false, false, false, false, false, false, false, false],
        [false, false, false, false, true, true, true, true, false, false, false, false]));

    // Channels 0 and 2 condition, 1 and 3 are transformed: channel-structured with non-contiguous channel indices.
    private static readonly CustomMask InterleavedChannels = new(new CouplingMask(
        [4, 2, 2],
        [true, true, true, true, false, false, false, false, true, true, true, true, false, false, false, false],
        [false, false, false, false, true, true, true, true, false, false, false, false, true, true, true, true]));

    public static IReadOnlyList<BijectorCase> All { get; } =
    [
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 0) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 1) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 1, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 0) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, SmallResNet),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 1) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 1, SmallResNet),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Half Horizontal, layer 0) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], HalfMask.Horizontal, 0, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Half Horizontal, layer 1, odd H) [1,5,3]",
            Create = () => new AffineCoupling([1, 5, 3], HalfMask.Horizontal, 1, SmallResNet),
            EventShape = [1, 5, 3],
        },
        new()
        {
            Name = "AffineCoupling(Half Vertical, layer 0) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], HalfMask.Vertical, 0, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Half Vertical, layer 1, odd W) [1,3,5]",
            Create = () => new AffineCoupling([1, 3, 5], HalfMask.Vertical, 1, SmallResNet),
            EventShape = [1, 3, 5],
        },
        new()
        {
            Name = "AutoregressiveAffine(window 3, 1 context layer, raster order) [2,4,4]",
            Create = () => new AutoregressiveAffine([2, 4, 4], window: 3, width: 4, contextLayers: 1, blocks: 1),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AutoregressiveAffine(window 5, reverse order, SoftClamp) [1,5,3]",
            Create = () => new AutoregressiveAffine([1, 5, 3], window: 5, width: 4, contextLayers: 0, blocks: 2, reverse: true, ScaleActivation.SoftClamp(2)),
            EventShape = [1, 5, 3],
        },
        new()
        {
            Name = "AffineCoupling(Cycle, layer 0) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CycleMask.Instance, 0, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Cycle, layer 3) [1,6,4]",
            Create = () => new AffineCoupling([1, 6, 4], CycleMask.Instance, 3, SmallResNet),
            EventShape = [1, 6, 4],
        },
        new()
        {
            Name = "AffineCoupling(Custom FromConditioning alternating, layer 1) [2,3,3]",
            Create = () => new AffineCoupling([2, 3, 3], IrregularConditioning, 1, SmallResNet),
            EventShape = [2, 3, 3],
        },
        new()
        {
            Name = "AffineCoupling(Custom function, channel 2 untouched) [3,2,2]",
            Create = () => new AffineCoupling([3, 2, 2], ThirdChannelUntouched, 0, SmallResNet),
            EventShape = [3, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Custom fixed, channels 0 and 2 condition) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], InterleavedChannels, 0, SmallResNet),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 0, ResNet + LinearBottleneck(3)) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallResNetBottleneck),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 1, Highway) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 1, SmallHighway),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 0, Highway) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, SmallHighway),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 0, GlowConv) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallGlowConv),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 1, GlowConv) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 1, SmallGlowConv),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 0, Mlp) [6]",
            Create = () => new AffineCoupling([6], ChannelMask.Instance, 0, SmallMlp),
            EventShape = [6],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 1, Mlp) [5]",
            Create = () => new AffineCoupling([5], ChannelMask.Instance, 1, SmallMlp),
            EventShape = [5],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 1, Autoencoder(l=4)) [1,14,14]",
            Create = () => new AffineCoupling([1, 14, 14], CheckerboardMask.Instance, 1, SmallAutoencoder),
            EventShape = [1, 14, 14],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 0, weight-normed ResNet) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallWeightNormResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "Squeeze [1,4,4]",
            Create = () => new Squeeze(),
            EventShape = [1, 4, 4],
            OutputEventShapeOverride = [4, 2, 2],
        },
        new()
        {
            Name = "InverseOf(Squeeze) [4,2,2]",
            Create = () => new InverseOf(new Squeeze()),
            EventShape = [4, 2, 2],
            OutputEventShapeOverride = [1, 4, 4],
        },
        new()
        {
            Name = "InverseOf(AffineCoupling(Checkerboard, layer 0)) [2,4,4]",
            Create = () => new InverseOf(new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallResNet)),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "FactorOut(1, Chain(AffineCoupling x2)) [2,4,4]",
            Create = () => new FactorOut(1, new Chain(
                new AffineCoupling([1, 4, 4], CheckerboardMask.Instance, 0, SmallResNet),
                new AffineCoupling([1, 4, 4], CheckerboardMask.Instance, 1, SmallResNet))),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "Logit(0.05) [1,3,3]",
            Create = () => new Logit(0.05),
            EventShape = [1, 3, 3],
            Input = InputKind.UnitInterval,
        },
        new()
        {
            Name = "UniformDequantization(noise off) [1,3,3]",
            Create = () => new UniformDequantization(addNoise: false),
            EventShape = [1, 3, 3],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Inverse quantizes to the 8-bit grid, so Forward(Inverse(y)) = y only for bin centres (k + 1/2)/256, "
                + "the images of grid inputs; Inverse(Forward(x)) = x holds exactly.",
        },
        new()
        {
            Name = "UniformDequantization(noise on) [1,3,3]",
            Create = () => new UniformDequantization(addNoise: true),
            EventShape = [1, 3, 3],
            Input = InputKind.EightBit,
            Latent = LatentKind.NotApplicable,
            InverseIsExact = true,
            Deterministic = false,
            Note = "Forward adds fresh U[0,1) noise per call and Inverse quantizes, so Forward(Inverse(y)) is a random "
                + "point of y's bin, never y: only Inverse(Forward(x)) = x on 8-bit grid inputs is checked, exactly. "
                + "The noise is additive, so the Jacobian is 255/256 I, as without noise.",
        },
        new()
        {
            Name = "Chain(Squeeze, AffineCoupling(Channel), InverseOf(Squeeze), AffineCoupling(Checkerboard)) [1,4,4]",
            Create = () => new Chain(
                new Squeeze(),
                new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, SmallResNet),
                new InverseOf(new Squeeze()),
                new AffineCoupling([1, 4, 4], CheckerboardMask.Instance, 1, SmallResNet)),
            EventShape = [1, 4, 4],
        },
        new()
        {
            Name = "RealNVP(1x8x8, scales 2, width 8, noise on)",
            Create = () => RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 2, Width = 8, Blocks = 1 }).Transform,
            EventShape = [1, 8, 8],
            Input = InputKind.EightBit,
            Latent = LatentKind.NotApplicable,
            InverseIsExact = true,
            Deterministic = false,
            Note = "Starts with noisy dequantization (RealNVP's default), so as for UniformDequantization(noise on) only "
                + "Inverse(Forward(x)) = x on 8-bit inputs is checked, exactly: the round-trip error (~1e-14) is far "
                + "below the distance of (k + u)/256 to its bin edges except with probability ~1e-13 per entry.",
        },
        new()
        {
            Name = "RealNVP(1x8x8, scales 2, width 8, noise off)",
            Create = () => RealNvp.Create(
                [1, 8, 8], new RealNvpOptions { Scales = 2, Width = 8, DequantizationNoise = false }).Transform,
            EventShape = [1, 8, 8],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Ends (in the inverse direction) by quantizing, so Forward(Inverse(y)) = y only for y = Forward(x) of "
                + "8-bit inputs x.",
        },
        new()
        {
            Name = "SingleScaleRealNVP(cycle mask, 1x4x4, 8 couplings, width 8, noise off)",
            Create = () => SingleScaleRealNvp.Create(
                [1, 4, 4],
                SingleScaleRealNvpOptions.RealNvpCycleMask with { Conditioner = SmallResNet, DequantizationNoise = false }).Transform,
            EventShape = [1, 4, 4],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Ends (in the inverse direction) by quantizing, so Forward(Inverse(y)) = y only for y = Forward(x) of "
                + "8-bit inputs x.",
        },
        new()
        {
            Name = "SingleScaleRealNVP(horizontal half mask, 3 couplings, Autoencoder(l=4), 1x14x14, noise off)",
            Create = () => SingleScaleRealNvp.Create(
                [1, 14, 14],
                SingleScaleRealNvpOptions.RealNvpMaskHorizontal3Layers with { Conditioner = SmallAutoencoder, DequantizationNoise = false }).Transform,
            EventShape = [1, 14, 14],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Ends (in the inverse direction) by quantizing, so Forward(Inverse(y)) = y only for y = Forward(x) of "
                + "8-bit inputs x.",
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 0, GlowSigmoid) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 0, SmallResNet, ScaleActivation.GlowSigmoid),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AffineCoupling(Checkerboard, layer 1, SoftClamp(2)) [2,4,4]",
            Create = () => new AffineCoupling([2, 4, 4], CheckerboardMask.Instance, 1, SmallResNet, ScaleActivation.SoftClamp(2.0)),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AffineCoupling(Channel, layer 1, RealNvpTanh) [4,2,2]",
            Create = () => new AffineCoupling([4, 2, 2], ChannelMask.Instance, 1, SmallResNet, ScaleActivation.RealNvpTanh),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "AdditiveCoupling(Checkerboard, layer 0) [2,4,4]",
            Create = () => new AdditiveCoupling([2, 4, 4], CheckerboardMask.Instance, 0, SmallResNet),
            EventShape = [2, 4, 4],
        },
        new()
        {
            Name = "AdditiveCoupling(Channel, layer 1) [4,2,2]",
            Create = () => new AdditiveCoupling([4, 2, 2], ChannelMask.Instance, 1, SmallResNet),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "ActNorm(initialised) [3,2,2]",
            Create = () => InitializedActNorm(3, [3, 2, 2]),
            EventShape = [3, 2, 2],
        },
        new()
        {
            Name = "ActNorm(initialised) vectors [5]",
            Create = () => InitializedActNorm(5, [5]),
            EventShape = [5],
        },
        new()
        {
            Name = "InvertibleConv1x1 [4,2,2]",
            Create = () => new InvertibleConv1x1(4),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "InvertibleConv1x1 vectors [3]",
            Create = () => new InvertibleConv1x1(3),
            EventShape = [3],
        },
        new()
        {
            Name = "LuInvertibleConv1x1 [4,2,2]",
            Create = () => new LuInvertibleConv1x1(4),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "LuInvertibleConv1x1 vectors [5]",
            Create = () => new LuInvertibleConv1x1(5),
            EventShape = [5],
        },
        new()
        {
            Name = "LuInvertibleConv1x1 one channel [1,2,2]",
            Create = () => new LuInvertibleConv1x1(1),
            EventShape = [1, 2, 2],
        },
        new()
        {
            Name = "LuInvertibleConv1x1 one channel, vectors [1]",
            Create = () => new LuInvertibleConv1x1(1),
            EventShape = [1],
        },
        new()
        {
            Name = "Permutation.Reverse [4,2,2]",
            Create = () => Permutation.Reverse(4),
            EventShape = [4, 2, 2],
        },
        new()
        {
            Name = "Permutation.Random(seed 3) vectors [5]",
            Create = () => Permutation.Random(5, seed: 3),
            EventShape = [5],
        },
        new()
        {
            Name = "Glow(1x8x8, scales 2, steps 2, width 8, LU, noise off, ActNorm initialised)",
            Create = () => InitializedGlow(new GlowOptions { Scales = 2, StepsPerScale = 2, Width = 8, DequantizationNoise = false }),
            EventShape = [1, 8, 8],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Ends (in the inverse direction) by quantizing, so Forward(Inverse(y)) = y only for y = Forward(x) of "
                + "8-bit inputs x.",
        },
        new()
        {
            Name = "Glow(1x8x8, scales 1, steps 2, highway width 8 x 1, plain 1x1 conv, noise off, ActNorm initialised)",
            Create = () => InitializedGlow(new GlowOptions
            {
                Scales = 1,
                StepsPerScale = 2,
                Conditioner = new HighwayConditionerFactory(width: 8, layers: 1),
                LuDecomposedConvolution = false,
                DequantizationNoise = false,
            }),
            EventShape = [1, 8, 8],
            Input = InputKind.EightBit,
            Latent = LatentKind.ForwardImageOfInputs,
            InverseIsExact = true,
            Note = "Ends (in the inverse direction) by quantizing, so Forward(Inverse(y)) = y only for y = Forward(x) of "
                + "8-bit inputs x.",
        },
    ];

    public static BijectorCase Get(string name) => All.Single(c => c.Name == name);

    public static TheoryData<string> Names() => new(All.Select(c => c.Name));

    public static TheoryData<string> CouplingNames() => new(All
        .Where(c => c.Name.StartsWith("AffineCoupling", System.StringComparison.Ordinal)
            || c.Name.StartsWith("AdditiveCoupling", System.StringComparison.Ordinal))
        .Select(c => c.Name));

    // An ActNorm initialised on a batch whose channels have mean 1 and standard deviation 2 (so log s ≈ −log 2 and
    // b ≈ −1 are far from the identity), from torch's global generator.
    private static ActNorm InitializedActNorm(long channels, long[] eventShape)
    {
        var actNorm = new ActNorm(channels);
        using var batch = randn(TensorChecks.Batched(16, eventShape)).TimesInPlace(2.0).PlusInPlace(1.0);
        actNorm.InitializeFrom(batch);
        return actNorm;
    }

    // The transform of a Glow flow on 1x8x8 images whose ActNorms are initialised on 16 random 8-bit images.
    private static Bijector InitializedGlow(GlowOptions options)
    {
        var flow = Glow.Create([1, 8, 8], options);
        using var batch = randint(0, 256, [16, 1, 8, 8], dtype: ScalarType.Float32).DivideInPlace(255.0);
        ActNorm.InitializeAll(flow, batch);
        return flow.Transform;
    }
}
