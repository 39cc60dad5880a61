using System;
using FlowOod.Layers;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>Shared maths of the invertible 1×1 convolutions: y = W x at every position.</summary>
internal static class ChannelMixing
{
    /// <summary>
    /// Throws an <see cref="ArgumentException"/> unless <paramref name="input"/> is <c>[N, C]</c> or
    /// <c>[N, C, H, W]</c> with C = <paramref name="channels"/>.
    /// </summary>
    public static void Validate(Tensor input, long channels, string typeName, string direction)
    {
        if ((input.dim() != 2 && input.dim() != 4) || input.size(1) != channels)
        {
            throw new ArgumentException(
                $"{typeName}.{direction} expects vectors [N, {channels}] or images [N, {channels}, H, W], got {Shapes.Format(input.Sizes())}.",
                nameof(input));
        }
    }

    /// <summary>y[n, i, ...] = Σⱼ W[i, j]·x[n, j, ...]: a matrix product for vectors, a 1×1 convolution for images.</summary>
    public static Tensor Apply(Tensor input, Tensor weight)
    {
        if (input.dim() == 2)
        {
            return input.matmul(weight.t());
        }

        var c = weight.size(0);
        using var kernel = weight.reshape(c, c, 1, 1);
        return Layers.Convolution.Conv2d(input, kernel);
    }

    /// <summary>P, the positions per channel: H·W for images, 1 for vectors.</summary>
    public static long Positions(Tensor input) => Shapes.Product(input.Sizes().AsSpan(2));

    /// <summary><paramref name="perPosition"/>·P repeated for each of the N examples: a new <c>[N]</c> tensor.</summary>
    public static Tensor LogDet(Tensor perPosition, Tensor input) =>
        perPosition.Times(Positions(input)).expand(input.size(0)).contiguous();

    /// <summary>
    /// A random orthogonal <c>[n, n]</c> matrix, Haar-distributed: Q of the QR factorisation of a standard Gaussian
    /// matrix, with its columns' signs fixed by the signs of R's diagonal. Computed in float64 from torch's global
    /// generator (on <paramref name="device"/>: the meta device draws nothing and only yields the shape); returned in
    /// the default dtype. Inside <see cref="ParameterInitialization.Skip"/> nothing is drawn: the identity, an orthogonal
    /// matrix of the same shape whose value is overwritten by the state copied in afterwards.
    /// </summary>
    public static Tensor RandomOrthogonal(long n, Device? device)
    {
        if (ParameterInitialization.IsSkipped)
        {
            return eye(n, device: device);
        }

        using var scope = NewDisposeScope();
        var gaussian = randn(n, n, dtype: ScalarType.Float64, device: device);
        var (q, r) = linalg.qr(gaussian);
        var signs = r.diagonal().sign();
        signs = signs.Plus(signs.eq(ScalarMath.Zero).to(signs.dtype)); // a zero sign becomes +1 (no `where`: this also runs on the meta device)
        return scope.MoveToOuter(q.mul(signs.unsqueeze(0)).to(get_default_dtype()).contiguous());
    }
}
