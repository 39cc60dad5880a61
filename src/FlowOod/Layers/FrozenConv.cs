using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// A 2-D convolution with fixed weights, for a frozen inference copy: y = conv2d(x, W) + b with zero padding, W
/// <c>[Cout, Cin, kh, kw]</c> and b <c>[Cout]</c> (or none) stored once in the dtype they are used in and, on the CPU,
/// channels-last (<see cref="ConvLayout"/>). Not a module: it has no state-dict keys, so the flow that holds it saves
/// and copies as the unfused flow it was folded from.
/// </summary>
internal sealed class FrozenConv : IDisposable
{
    private readonly long[] stride;
    private readonly long[] padding;
    private Tensor weight;
    private Tensor? bias;

    /// <summary>Stores <paramref name="weight"/> and <paramref name="bias"/> (any float dtype, e.g. float64 after a fold)
    /// as new tensors of <paramref name="dtype"/>; the arguments are left to the caller.</summary>
    /// <param name="weight">W <c>[Cout, Cin, kh, kw]</c>.</param>
    /// <param name="bias">b <c>[Cout]</c>, or null.</param>
    /// <param name="stride">(sh, sw).</param>
    /// <param name="padding">Zero padding (ph, pw).</param>
    /// <param name="dtype">The dtype to store and compute in.</param>
    public FrozenConv(Tensor weight, Tensor? bias, long[] stride, long[] padding, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 4)
        {
            throw new ArgumentException($"A convolution weight is [Cout, Cin, kh, kw], got {Shapes.Format(weight.shape)}.", nameof(weight));
        }

        this.stride = (long[])stride.Clone();
        this.padding = (long[])padding.Clone();
        (this.weight, this.bias) = Store(weight, bias, dtype);
    }

    /// <summary>The dtype the weights are stored and used in.</summary>
    public ScalarType DType => weight.dtype;

    /// <summary>Whether <paramref name="input"/> can be convolved as it is: same dtype and device as the weights.</summary>
    public bool Accepts(Tensor input) => input.dtype == weight.dtype && input.device_type == weight.device_type && input.device_index == weight.device_index;

    /// <summary>The weight (for tests; do not dispose it).</summary>
    internal Tensor Weight => weight;

    /// <summary>conv2d(<paramref name="input"/>, W) + b: <c>[N, Cin, H, W]</c> → <c>[N, Cout, H', W']</c>, a new tensor.</summary>
    public Tensor Call(Tensor input) => nn.functional.conv2d(input, weight, bias, strides: stride, padding: padding);

    /// <summary>Converts the stored weights to <paramref name="dtype"/> once (a bf16 inference copy).</summary>
    public void ConvertTo(ScalarType dtype)
    {
        if (dtype == weight.dtype)
        {
            return;
        }

        var (newWeight, newBias) = Store(weight, bias, dtype);
        weight.Dispose();
        bias?.Dispose();
        (weight, bias) = (newWeight, newBias);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        weight.Dispose();
        bias?.Dispose();
    }

    private static (Tensor Weight, Tensor? Bias) Store(Tensor weight, Tensor? bias, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var typed = weight.detach().to(dtype);
        var laidOut = ConvLayout.NeedsCopy(typed) ? ConvLayout.ChannelsLast(typed) : typed.clone();
        var storedBias = bias?.detach().to(dtype).clone();
        return (laidOut.DetachFromDisposeScope(), storedBias?.DetachFromDisposeScope());
    }
}
