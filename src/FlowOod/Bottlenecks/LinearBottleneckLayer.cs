using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bottlenecks;

/// <summary>
/// The module of <see cref="LinearBottleneck"/>: maps <c>[N, featureShape...]</c> through an l-dimensional linear code
/// back to <c>[N, featureShape...]</c>.
/// </summary>
/// <remarks>
/// Layout: flatten to <c>[N, F]</c> (F = ∏ featureShape) → <c>encode</c> = Linear(F, l) → <c>[N, l]</c> →
/// <c>decode</c> = Linear(l, F) → reshape to <c>[N, featureShape...]</c>. No nonlinearity (as the reference code's
/// <c>resnet_ae</c> and <c>autoencoder</c> st-networks). Both layers use PyTorch's default initialisation. Whatever
/// follows can only depend on the input through the l numbers of the code, so the Jacobian of the output with respect
/// to the input has rank at most l.
/// <para>An st-network that contains this layer computes in float32 even when the flow's other st-networks run in bf16
/// (<see cref="IFloat32Only"/> says why).</para>
/// </remarks>
internal sealed partial class LinearBottleneckLayer : nn.Module<Tensor, Tensor>, IFloat32Only
{
    private readonly LinearLayer encode;
    private readonly LinearLayer decode;
    private readonly long[] featureShape;

    /// <summary>Creates the layer.</summary>
    /// <param name="featureShape">The per-example feature shape, e.g. <c>[128, 4, 4]</c>.</param>
    /// <param name="latentSize">l, the width of the code.</param>
    /// <exception cref="ArgumentException">The shape is empty or has a non-positive dimension.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="latentSize"/> is not positive.</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public LinearBottleneckLayer(long[] featureShape, long latentSize, Device? device = null)
        : base(nameof(LinearBottleneckLayer))
    {
        this.featureShape = Shapes.CheckEventShape(featureShape, nameof(featureShape));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentSize);
        Features = Shapes.Product(this.featureShape);
        LatentSize = latentSize;
        encode = new LinearLayer(Features, latentSize, device: device);
        decode = new LinearLayer(latentSize, Features, device: device);
        RegisterComponents();
    }

    /// <summary>The per-example feature shape the layer was built for.</summary>
    public IReadOnlyList<long> FeatureShape => featureShape;

    /// <summary>F, the number of features squeezed into the code.</summary>
    public long Features { get; }

    /// <summary>l, the width of the code.</summary>
    public long LatentSize { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="input"/> is not <c>[N, featureShape...]</c>.</exception>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!Shapes.EventMatches(input.Sizes(), featureShape))
        {
            throw new ArgumentException(
                $"The linear bottleneck was built for [N, {string.Join(", ", featureShape)}], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        using var scope = NewDisposeScope();
        using var flat = input.flatten(1);
        using var code = encode.call(flat);
        using var back = decode.call(code);
        return scope.MoveToOuter(back.reshape(new[] { input.size(0) }.Concat(featureShape).ToArray()));
    }

    /// <inheritdoc/>
    public override string ToString() => $"LinearBottleneckLayer({Shapes.Format(featureShape)} -> {LatentSize})";
}
