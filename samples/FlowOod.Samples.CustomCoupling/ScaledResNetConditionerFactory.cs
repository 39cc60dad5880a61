using System;
using System.Globalization;
using FlowOod.Components;
using FlowOod.Conditioners;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Samples.CustomCoupling;

/// <summary>
/// A user's own st-network: FlowOod's ResNet conditioner with its output multiplied by a fixed <see cref="Gain"/>
/// (a gentler start for deep stacks). It describes itself as the component <c>"sample-scaled-resnet"</c>, so a flow
/// built with it keeps its <c>Architecture</c>, saves through <c>ModelFile</c>, and loads once the type is in the
/// catalog: <c>new ModelLoadOptions { Catalog = ModelCatalog.BuiltIn.With&lt;ScaledResNetConditionerFactory&gt;() }</c>.
/// </summary>
[ComponentName("sample-scaled-resnet")]
public sealed class ScaledResNetConditionerFactory : IConditionerFactory, IComponent<ScaledResNetConditionerFactory>
{
    /// <summary>Creates the factory.</summary>
    /// <param name="width">Channels of the residual blocks, ≥ 1.</param>
    /// <param name="blocks">Residual blocks, ≥ 0.</param>
    /// <param name="gain">The factor applied to the network's output, in (0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public ScaledResNetConditionerFactory(int width, int blocks, double gain)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        if (!(gain > 0 && gain <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(gain), gain, "The gain must lie in (0, 1].");
        }

        Width = width;
        Blocks = blocks;
        Gain = gain;
    }

    /// <summary>Channels of the residual blocks.</summary>
    public int Width { get; }

    /// <summary>Residual blocks.</summary>
    public int Blocks { get; }

    /// <summary>The factor applied to the network's output.</summary>
    public double Gain { get; }

    /// <summary>Reads a stored factory; the bounds keep a damaged file from asking for a huge network.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The factory.</returns>
    public static ScaledResNetConditionerFactory Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return new(reader.ReadInt("width", 1, 4096), reader.ReadInt("blocks", 0, 64), reader.ReadDouble("gain", double.Epsilon, 1));
    }

    /// <inheritdoc/>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteInt("width", Width);
        writer.WriteInt("blocks", Blocks);
        writer.WriteDouble("gain", Gain);
    }

    /// <inheritdoc/>
    public nn.Module<Tensor, Tensor> Create(long[] inputShape, long outputChannels, Device? device = null) =>
        new Scaled(new ResNetConditionerFactory(Width, Blocks).Create(inputShape, outputChannels, device), Gain);

    /// <inheritdoc/>
    public override string ToString() => $"ScaledResNet(width={Width}, blocks={Blocks}, gain={Gain.ToString("R", CultureInfo.InvariantCulture)})";

    private sealed class Scaled : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> inner;
        private readonly double gain;

        public Scaled(nn.Module<Tensor, Tensor> inner, double gain)
            : base(nameof(Scaled))
        {
            this.inner = inner;
            this.gain = gain;
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var output = inner.forward(input);
            // A Scalar made with `using` stays reachable until the native call returns; TorchSharp's own temporary from
            // `mul(double)` may be freed by its finalizer during the call (FlowOod's docs/design.md, "Scalars").
            using var scale = gain.ToScalar();
            return output.mul(scale);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
