using System;
using System.Linq;
using FlowOod.Conditioners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// A pixel-autoregressive affine bijector (a masked autoregressive flow layer on images): every pixel is shifted and
/// scaled by amounts computed from the pixels before it in raster order, inside a window.
/// </summary>
/// <remarks>
/// <para>Forward (data → latent), per pixel p and channel c: z[c, p] = (x[c, p] + t[c, p]) · exp(s[c, p]), with
/// (ŝ, t) = f(x_{&lt;p}) from a causal network (<see cref="Conditioners.CausalConditioner"/>: a masked k×k convolution,
/// optional masked 3×3 context layers, 1×1 residual blocks) and s = <see cref="ScaleActivation"/>(ŝ). The Jacobian is
/// triangular in raster order, so LogDet = Σ_{c,p} s[c, p] per example, and the forward pass is one network call. With a
/// standard-normal base this is an autoregressive model with Gaussian conditionals in the flow's coordinates:
/// log p(x) = Σ_p log N(x_p; −t_p, exp(−2 s_p)) + the preprocessing's terms.</para>
/// <para>Inverse (latent → data) is sequential: H·W network calls, filling one pixel per call in order (sampling cost;
/// scoring uses the forward direction only).</para>
/// <para><c>reverse</c> = true orders pixels the other way (bottom-right first), so stacked layers can alternate orders.
/// Channels of one pixel are conditionally independent given earlier pixels. Shapes: input and output
/// <c>[N, C, H, W]</c>, LogDet <c>[N]</c>. The network's output is 2C channels: ŝ then t, zero-initialised (identity at
/// creation). With <see cref="ScaleActivation.RealNvpTanh"/> the layer owns a parameter <c>scale</c> <c>[C, 1, 1]</c>.</para>
/// </remarks>
public sealed partial class AutoregressiveAffine : Bijector
{
    private readonly CausalConditioner net;
    private readonly Parameter? scale;
    private readonly ScaleActivation activation;
    private readonly long[] eventShape;
    private readonly bool reverse;

    /// <summary>Creates the layer for images of shape <paramref name="eventShape"/>.</summary>
    /// <param name="eventShape"><c>[C, H, W]</c>.</param>
    /// <param name="window">k, the masked first convolution's odd size (1 ≤ k ≤ 31; k = 1 sees no other pixel).</param>
    /// <param name="width">Feature maps inside the network, ≥ 1.</param>
    /// <param name="contextLayers">Masked 3×3 layers after the first (each widens the window by one pixel), ≥ 0.</param>
    /// <param name="blocks">1×1 residual blocks (capacity without widening the window), ≥ 0.</param>
    /// <param name="reverse">Order pixels bottom-right first instead of top-left first.</param>
    /// <param name="scaleActivation">Maps ŝ to s (default <see cref="ScaleActivation.RealNvpTanh"/>).</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    /// <exception cref="ArgumentException"><paramref name="eventShape"/> is not <c>[C, H, W]</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range.</exception>
    public AutoregressiveAffine(
        long[] eventShape, int window, int width, int contextLayers, int blocks, bool reverse = false, ScaleActivation? scaleActivation = null, Device? device = null)
        : base(nameof(AutoregressiveAffine))
    {
        var shape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        if (shape.Length != 3)
        {
            throw new ArgumentException($"An autoregressive layer needs an image shape [C, H, W], got {Shapes.Format(shape)}.", nameof(eventShape));
        }

        if (!IsWindow(window))
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, $"The window must be odd and between 1 and {Conditioners.LocalConditionerFactory.MaxWindow}.");
        }

        this.eventShape = shape;
        this.reverse = reverse;
        activation = scaleActivation ?? ScaleActivation.RealNvpTanh;
        net = new CausalConditioner(shape[0], 2 * shape[0], window, width, contextLayers, blocks, device);
        if (activation.UsesLearnableScale)
        {
            using var scope = NewDisposeScope();
            scale = Layers.Parameters.Create(ones(new[] { shape[0], 1L, 1L }, device: device));
        }

        RegisterComponents();
    }

    /// <summary>Whether <paramref name="window"/> is a valid window: odd, 1 … <see cref="Conditioners.LocalConditionerFactory.MaxWindow"/>.</summary>
    internal static bool IsWindow(int window) => window >= 1 && window <= Conditioners.LocalConditionerFactory.MaxWindow && window % 2 == 1;

    /// <summary>Whether pixels are ordered bottom-right first.</summary>
    public bool IsReversed => reverse;

    /// <summary>The scale activation mapping ŝ to the log-scale s.</summary>
    public ScaleActivation ScaleActivation => activation;

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (!Shapes.EventMatches(input.Sizes(), eventShape))
        {
            throw new ArgumentException(
                $"{nameof(AutoregressiveAffine)}.{direction} expects [N, {string.Join(", ", eventShape)}], got {Shapes.Format(input.Sizes())}.",
                nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        var (s, t) = LogScaleAndShift(input);
        return (input.Plus(t).mul(s.exp()), SumPerExample(s));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        long height = eventShape[1], width = eventShape[2];
        var x = zeros_like(input);
        for (long k = 0; k < height * width; k++)
        {
            long p = reverse ? (height * width) - 1 - k : k;
            long h = p / width, w = p % width;
            using var step = NewDisposeScope();
            var (s, t) = LogScaleAndShift(x);
            using var zAt = input[.., .., h, w];
            using var sAt = s[.., .., h, w];
            using var tAt = t[.., .., h, w];
            using var target = x[.., .., h, w];
            target.copy_(zAt.mul(sAt.neg().exp()).sub_(tAt));
        }

        var (finalS, _) = LogScaleAndShift(x);
        return (x, SumPerExample(finalS).neg_());
    }

    /// <summary>(s, t) for every pixel, each <c>[N, C, H, W]</c>, from the pixels before it.</summary>
    private (Tensor S, Tensor T) LogScaleAndShift(Tensor x)
    {
        var ordered = reverse ? x.flip(2, 3) : x;
        var output = net.call(ordered);
        if (reverse)
        {
            output = output.flip(2, 3);
        }

        var halves = output.chunk(2, 1);
        return (activation.LogScale(halves[0], scale), halves[1]);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"AutoregressiveAffine([{string.Join(", ", eventShape)}], reverse={reverse}, scale={activation})";
}
