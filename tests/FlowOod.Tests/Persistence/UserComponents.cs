using System;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;

namespace FlowOod.Tests.Persistence;

/// <summary>A test-local mask: vertical stripes of <see cref="Width"/> columns, alternating with the layer index.</summary>
[ComponentName("test-stripes")]
internal sealed class StripeMask : IMaskStrategy, IComponent<StripeMask>
{
    public StripeMask(int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Width = width;
    }

    public int Width { get; }

    public static StripeMask Read(ComponentReader reader) => new(reader.ReadInt("width", 1, 64));

    public void Write(ComponentWriter writer) => writer.WriteInt("width", Width);

    public CouplingMask Create(long[] eventShape, int layerIndex)
    {
        long c = eventShape[0], h = eventShape[1], w = eventShape[2];
        var condition = new bool[c * h * w];
        var transform = new bool[c * h * w];
        for (long k = 0; k < c; k++)
        {
            for (long i = 0; i < h; i++)
            {
                for (long j = 0; j < w; j++)
                {
                    var at = (k * h * w) + (i * w) + j;
                    condition[at] = (j / Width % 2 == 0) != (layerIndex % 2 == 1);
                    transform[at] = !condition[at];
                }
            }
        }

        return new CouplingMask(eventShape, condition, transform);
    }
}

/// <summary>A test-local st-network factory: a one-block ResNet of <see cref="Width"/> channels, declared under its own name.</summary>
[ComponentName("test-tiny-resnet")]
internal sealed class TinyResNetFactory : IConditionerFactory, IComponent<TinyResNetFactory>
{
    public TinyResNetFactory(int width) => Width = width;

    public int Width { get; }

    public static TinyResNetFactory Read(ComponentReader reader) => new(reader.ReadInt("width", 1, 256));

    public void Write(ComponentWriter writer) => writer.WriteInt("width", Width);

    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(long[] inputShape, long outputChannels, torch.Device? device = null) =>
        new ResNetConditionerFactory(Width, 1).Create(inputShape, outputChannels, device);
}

/// <summary>Another mask that (wrongly) declares the name of <see cref="StripeMask"/>.</summary>
[ComponentName("test-stripes")]
internal sealed class ClashingStripeMask : IMaskStrategy, IComponent<ClashingStripeMask>
{
    public static ClashingStripeMask Read(ComponentReader reader) => new();

    public void Write(ComponentWriter writer)
    {
    }

    public CouplingMask Create(long[] eventShape, int layerIndex) => CheckerboardMask.Instance.Create(eventShape, layerIndex);
}

/// <summary>A mask that claims the built-in name "checkerboard".</summary>
[ComponentName("checkerboard")]
internal sealed class FakeCheckerboard : IMaskStrategy, IComponent<FakeCheckerboard>
{
    public static FakeCheckerboard Read(ComponentReader reader) => new();

    public void Write(ComponentWriter writer)
    {
    }

    public CouplingMask Create(long[] eventShape, int layerIndex) => CheckerboardMask.Instance.Create(eventShape, layerIndex);
}

/// <summary>A component of no kind (it implements none of FlowOod's component interfaces).</summary>
[ComponentName("test-kindless")]
internal sealed class KindlessComponent : IComponent<KindlessComponent>
{
    public static KindlessComponent Read(ComponentReader reader) => new();

    public void Write(ComponentWriter writer)
    {
    }
}

/// <summary>
/// A test-local builder: two affine couplings over a vector with a nested st-network component, so a flow's whole
/// description is components (a user builder is registered like any other component).
/// </summary>
[ComponentName("test-vector-couplings")]
internal sealed class VectorCouplingOptions : FlowOod.Models.IFlowBuilderOptions, IComponent<VectorCouplingOptions>
{
    public required IConditionerFactory Conditioner { get; init; }

    public static VectorCouplingOptions Read(ComponentReader reader) => new() { Conditioner = reader.ReadComponent<IConditionerFactory>("conditioner") };

    public void Write(ComponentWriter writer) => writer.WriteComponent("conditioner", Conditioner);

    public NormalizingFlow Build(long[] eventShape, torch.Device? device = null)
    {
        var couplings = new FlowOod.Bijectors.AffineCoupling[]
        {
            new(eventShape, ChannelMask.Instance, 0, Conditioner, device: device),
            new(eventShape, ChannelMask.Instance, 1, Conditioner, device: device),
        };
        return new NormalizingFlow(new FlowOod.Bijectors.Chain(couplings), eventShape) { Architecture = FlowArchitecture.Of(this) };
    }
}
